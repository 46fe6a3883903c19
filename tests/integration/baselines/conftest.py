"""Fixtures for the baseline fold: raw events written straight into the session's chDB.

Events are inserted with explicit ``ingest_time`` values, so every scenario (batches, duplicates,
late arrivals) is exact and needs no clock. Background merges of ``raw_events`` are paused
while a test runs, so copies of an event collapse only where a test says so (OPTIMIZE ... FINAL):
see ``test_duplicate_merged_away_before_next_fold`` for what a merge does to exactly-once.
"""

from __future__ import annotations

import pytest
from tests.integration.baselines.baseline_support import RawEvents, at


@pytest.fixture
def raw_events(clickhouse, settings):
    database = settings.CLICKHOUSE_DATABASE
    clickhouse.command(f"SYSTEM STOP MERGES {database}.raw_events")
    try:
        yield RawEvents(clickhouse, database)
    finally:
        clickhouse.command(f"SYSTEM START MERGES {database}.raw_events")


@pytest.fixture
def drift_events(clickhouse, settings):
    """Writes DRIFT_START / DRIFT_END transitions (only the columns the fold reads matter)."""
    table = f"{settings.CLICKHOUSE_DATABASE}.drift_events"

    def write(transitions: list[tuple[int, str, str, str, int]]) -> None:
        """transitions: (drift_event_id, source_id, metric, event_type, event_time_ms)."""
        columns = ["drift_event_id", "source_id", "metric", "event_type", "event_time", "detected_at"]
        rows = [[i, s, m, kind, at(ms), at(ms)] for i, s, m, kind, ms in transitions]
        clickhouse.insert(table, rows, column_names=columns)

    return write
