"""Pagination of the read-only API: limit/offset envelopes and the keyset cursor of /drift/events.

- List endpoints over PostgreSQL and /drift/status answer ``{count, next, previous, results}``
  and take ``limit`` (1..1000) and ``offset`` (>= 0); out-of-range values are a 400 that names
  the parameter, never silently clamped.
- /drift/events answers ``{next, previous, results}`` and takes an opaque ``cursor``: URL-safe
  base64 of a small JSON object holding a keyset position (event time in ms, drift_event_id)
  and a direction. Rows are never skipped or repeated when new events arrive between pages.
  :func:`keyset_page` turns a cursor into one page and the cursors of its neighbours; the view
  only says how to fetch rows after a position.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.utils.urls import remove_query_param, replace_query_param

from monitoring_api.fields import MAX_TIME, MIN_TIME, StrictIntegerField

MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LimitOffsetFilterSerializer(serializers.Serializer):
    """Query parameters shared by the limit/offset list endpoints (inherited by their filters)."""

    limit = StrictIntegerField(
        min_value=1, max_value=MAX_LIMIT, default=100, help_text=f"Page size, 1..{MAX_LIMIT}."
    )
    offset = StrictIntegerField(
        min_value=0, max_value=MAX_OFFSET, default=0, help_text="Rows to skip before the page starts."
    )


def limit_offset_links(request, *, count: int, limit: int, offset: int) -> tuple[str | None, str | None]:
    """Absolute ``next`` and ``previous`` URLs (None at either end)."""
    url = request.build_absolute_uri()
    url = replace_query_param(url, "limit", limit)
    next_url = replace_query_param(url, "offset", offset + limit) if offset + limit < count else None
    if offset <= 0:
        previous_url = None
    else:
        previous_offset = max(0, offset - limit)
        previous_url = (
            remove_query_param(url, "offset") if previous_offset == 0 else replace_query_param(url, "offset", previous_offset)
        )
    return next_url, previous_url


def limit_offset_body(request, *, count: int, limit: int, offset: int, results, **extras) -> dict:
    """``{count, next, previous, **extras, results}`` for one page."""
    next_url, previous_url = limit_offset_links(request, count=count, limit=limit, offset=offset)
    return {"count": count, "next": next_url, "previous": previous_url, **extras, "results": results}


def limit_offset_page_serializer(item: type[serializers.Serializer], component_name: str, **extra_fields):
    """A ``{count, next, previous, results}`` serializer class for the schema, named ``component_name``."""
    attrs = {
        "count": serializers.IntegerField(help_text="Rows matching the filters."),
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
        **extra_fields,
        "results": item(many=True),
    }
    klass = type(f"{component_name}Serializer", (serializers.Serializer,), attrs)
    return extend_schema_serializer(component_name=component_name)(klass)


def cursor_page_serializer(item: type[serializers.Serializer], component_name: str):
    """A ``{next, previous, results}`` serializer class for the schema, named ``component_name``."""
    attrs = {
        "next": serializers.URLField(allow_null=True, help_text="The next (older, by default) page, or null."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
        "results": item(many=True),
    }
    klass = type(f"{component_name}Serializer", (serializers.Serializer,), attrs)
    return extend_schema_serializer(component_name=component_name)(klass)


# --- keyset cursor ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """A position between two events; ``backwards`` = the page before it (a "previous" link)."""

    event_time: datetime
    drift_event_id: int
    backwards: bool = False

    def encode(self) -> str:
        payload = {
            "t": (self.event_time - EPOCH) // timedelta(milliseconds=1),
            "i": str(self.drift_event_id),
            "b": int(self.backwards),
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parses a cursor made by :meth:`encode`; anything else is a ValidationError on ``cursor``."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = json.loads(raw)
            if not isinstance(payload, dict) or set(payload) != {"t", "i", "b"}:
                raise ValueError("unexpected keys")
            millis, ident, backwards = payload["t"], payload["i"], payload["b"]
            if type(millis) is not int or type(backwards) is not int or backwards not in (0, 1):
                raise ValueError("bad field types")
            if not isinstance(ident, str) or not ident.isdigit() or len(ident) > 20:
                raise ValueError("bad id")
            drift_event_id = int(ident)
            if drift_event_id >= 2**64:
                raise ValueError("id out of range")
            event_time = EPOCH + timedelta(milliseconds=millis)
            if not (MIN_TIME <= event_time <= MAX_TIME):
                raise ValueError("time out of range")
        except (ValueError, TypeError, binascii.Error, OverflowError, OSError, UnicodeDecodeError) as exc:
            raise ValidationError({"cursor": ["Invalid cursor: use the next/previous links of a previous response."]}) from exc
        return cls(event_time=event_time, drift_event_id=drift_event_id, backwards=bool(backwards))


def cursor_link(request, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor.encode())


@dataclass(frozen=True)
class KeysetPage:
    rows: list[dict[str, Any]]
    next: Cursor | None
    previous: Cursor | None


def keyset_page(
    cursor: str | None, *, limit: int, newest_first: bool, fetch: Callable[..., list[dict[str, Any]]]
) -> KeysetPage:
    """The page a ``cursor`` parameter points at (None: the first page), in the order asked for.

    ``fetch(after=, descending=, limit=)`` returns at most ``limit`` rows (dicts with
    ``event_time`` and ``drift_event_id``) strictly past the position ``after`` (None: from the
    start) in that order; it may return a list shared with other callers (it is not changed).
    One row more than the page is fetched to learn whether a page follows. A cursor not made by
    :meth:`Cursor.encode` is a ValidationError on ``cursor``, raised before anything is fetched.
    """
    position = Cursor.decode(cursor) if cursor is not None else None
    backwards = position is not None and position.backwards
    rows = fetch(after=position, descending=newest_first != backwards, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    if backwards:
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, position is not None
    next_cursor = Cursor(last["event_time"], last["drift_event_id"]) if has_next and last else None
    previous_cursor = (
        Cursor(first["event_time"], first["drift_event_id"], backwards=True) if has_previous and first else None
    )
    return KeysetPage(rows=rows, next=next_cursor, previous=previous_cursor)
