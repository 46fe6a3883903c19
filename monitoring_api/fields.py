"""Serializer fields shared by the API's Filter and Output serializers."""

from __future__ import annotations

import math
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from detection.core.config import METHODS, THRESHOLD_FIELDS, Thresholds

# The range of ClickHouse DateTime64: a bound outside it is a 400, not a query error.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


class UtcDateTimeField(serializers.DateTimeField):
    """ISO-8601 input (an offset is honoured; none means UTC), normalised to aware UTC."""

    default_error_messages = {
        "out_of_range": "Must be between 1900-01-01T00:00:00Z and 2299-12-31T23:59:59.999Z.",
    }

    def to_internal_value(self, value):
        try:
            parsed = super().to_internal_value(value)
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            self.fail("out_of_range")
        if not (MIN_TIME <= parsed <= MAX_TIME):
            self.fail("out_of_range")
        return parsed


@extend_schema_field({"type": "number", "format": "double", "nullable": True})
class FiniteFloatField(serializers.FloatField):
    """A float that is rendered as null when it is NaN or infinite (JSON has neither)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,20}$", "example": "9223372036854775809"})
class UInt64StringField(serializers.Field):
    """A ClickHouse UInt64 rendered as a decimal string (JavaScript numbers stop at 2**53)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return str(int(value))


class QueryStringField(serializers.CharField):
    """A query-string filter: at most 256 characters (the longest stored key), no NUL; blank is
    refused unless ``allow_blank=True``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 256)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A query integer written as digits only: DRF's IntegerField also takes ``0.0`` and ``1.``,
    which the schema (type integer) says are invalid, so they are a 400 here."""

    default_error_messages = {"invalid": "A valid integer is required (digits only)."}

    def to_internal_value(self, data):
        if isinstance(data, str) and not data.strip().lstrip("+-").isdigit():
            self.fail("invalid")
        return super().to_internal_value(data)


def threshold_fields(source_prefix: str = "") -> dict[str, serializers.Field]:
    """One serializer field per core threshold field (``THRESHOLD_FIELDS``), typed from
    ``Thresholds``: a new threshold field appears in the API without being spelled here.
    Serializers take them with ``locals().update(...)`` in their class body (a class body's
    namespace is a plain dict, which DRF's metaclass then reads like declared fields)."""
    hints = {f.name: f.type for f in dataclass_fields(Thresholds)}
    out: dict[str, serializers.Field] = {}
    for name in THRESHOLD_FIELDS:
        kwargs = {"source": f"{source_prefix}{name}"} if source_prefix else {}
        if name == "method":
            out[name] = serializers.ChoiceField(choices=METHODS, **kwargs)
        elif hints[name] == "int":
            out[name] = serializers.IntegerField(**kwargs)
        else:
            out[name] = serializers.FloatField(**kwargs)
    return out
