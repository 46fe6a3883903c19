"""Query parameters shared by the APIs' nested ``FilterSerializer`` classes.

The bases are inherited, like ``pagination.LimitOffsetFilterSerializer``
(``class FilterSerializer(LimitOffsetFilterSerializer, KeyFilterSerializer)``): the bases'
fields come first, in the order of the bases, then the endpoint's own.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from monitoring_api.fields import QueryStringField


def _orderings(fields) -> list[str]:
    return [value for field in fields for value in (field, f"-{field}")]


def ordering_field(fields) -> serializers.ChoiceField:
    """``ordering``: one of ``fields``, ascending or (with ``-``) descending; optional."""
    return serializers.ChoiceField(
        choices=_orderings(fields),
        required=False,
        help_text="Sort field; prefix with '-' for descending. Ties are broken by the key.",
    )


class KeyFilterSerializer(serializers.Serializer):
    """The key filters of /baselines, /drift/status and /drift/events (inherited by their filters)."""

    source_id = QueryStringField(help_text="Exact source_id.")
    metric = QueryStringField(help_text="Exact metric.")
    metric_prefix = QueryStringField(help_text="Metric starts with this text.")


class TimeRangeFilterSerializer(serializers.Serializer):
    """Filters with ``since`` and ``until`` (each endpoint declares both, with its own help and
    whether they are required): when both are given, ``until`` must be later than ``since``."""

    def validate(self, data):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError({"until": ["Must be later than since."]})
        return data
