"""Helpers for the baseline tests: events with explicit ids and times, written into raw_events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: fixed origin for event and ingest times


def at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Event:
    event_id: int
    source_id: str
    metric: str
    value: float
    event_time_ms: int


class RawEvents:
    """Writes rows into the session's raw_events (column-oriented: one insert per batch)."""

    COLUMNS = ["event_id", "source_id", "metric", "value", "event_time", "ingest_time"]

    def __init__(self, client, database: str):
        self.client = client
        self.table = f"{database}.raw_events"
        self.database = database

    def insert(self, events: list[Event], *, ingest_ms: int) -> None:
        if not events:
            return
        columns = [
            [e.event_id for e in events],
            [e.source_id for e in events],
            [e.metric for e in events],
            [e.value for e in events],
            [at(e.event_time_ms) for e in events],
            [at(ingest_ms)] * len(events),
        ]
        self.client.insert(self.table, columns, column_names=self.COLUMNS, column_oriented=True)

    def merge_all_copies(self) -> None:
        """Force the merge that background merging would do some time later."""
        self.client.command(f"SYSTEM START MERGES {self.table}")
        self.client.command(f"OPTIMIZE TABLE {self.table} FINAL")
        self.client.command(f"SYSTEM STOP MERGES {self.table}")
