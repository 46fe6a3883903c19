"""Postgres writes of the producers (HackSoft 'services')."""

from __future__ import annotations

from collections.abc import Iterable

from config_app.models import SourceMetadata


def sources_register(*, source_ids: Iterable[str], source_type: str) -> int:
    """Register (or re-type) the producer's sources in ``source_metadata`` in one bulk upsert.

    New rows get ``source_type`` and ``active``; existing rows get ``source_type`` and
    ``active = true`` and keep ``first_seen`` / ``last_seen`` (those are what the detector has
    seen: it fills them when the events arrive). Returns the number of sources written.
    """
    if source_type not in SourceMetadata.SourceType.values:
        raise ValueError(f"source_type must be one of {SourceMetadata.SourceType.values}, got {source_type!r}")
    rows = [SourceMetadata(source_id=source_id, source_type=source_type, active=True) for source_id in sorted(set(source_ids))]
    SourceMetadata.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["source_id"], update_fields=["source_type", "active"]
    )
    return len(rows)
