"""Writes of source_metadata from the stream (batched; one round trip per flush)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import connection, transaction

_UPSERT = """
INSERT INTO source_metadata (source_id, source_type, first_seen, last_seen, active)
VALUES (%s, 'other', %s, %s, TRUE)
ON CONFLICT (source_id) DO UPDATE SET
    first_seen = LEAST(COALESCE(source_metadata.first_seen, EXCLUDED.first_seen), EXCLUDED.first_seen),
    last_seen = GREATEST(COALESCE(source_metadata.last_seen, EXCLUDED.last_seen), EXCLUDED.last_seen),
    active = TRUE
"""


def sources_seen_record(*, seen: Mapping[str, tuple[datetime, datetime]]) -> int:
    """Record that each source was seen between (first, last) wall-clock times; marks it active.

    A source not registered yet is created with source_type 'other' (producers register
    their own type); first_seen only moves back, last_seen only forward.
    """
    if not seen:
        return 0
    rows = [(source_id, first, last) for source_id, (first, last) in sorted(seen.items())]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(_UPSERT, rows)
    return len(rows)


def sources_deactivate(*, last_seen_before: datetime) -> int:
    """Mark sources inactive that have not been seen since ``last_seen_before``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE source_metadata SET active = FALSE WHERE active AND last_seen < %s", [last_seen_before]
        )
        return cursor.rowcount
