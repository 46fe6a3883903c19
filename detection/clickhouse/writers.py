"""Batch writers: the only INSERTs into ClickHouse.

Each call is one column-oriented insert (every insert costs ~6-7 ms on chDB whatever its size,
so callers batch). Every DateTime64(3) value is passed as integer epoch milliseconds, which
clickhouse-connect writes as raw ticks (no datetime objects on the hot path). Rows come from the pure core as plain tuples; encoding lives here, transport
is clickhouse-connect. Idempotency comes from deterministic ids + ReplacingMergeTree, not from
insert deduplication (which is off on non-replicated MergeTree).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from detection.clickhouse.tables import CHECKPOINT_COLUMNS, DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS, RAW_EVENT_COLUMNS
from detection.core.detector import KeyStatus, Transition
from detection.core.events import Event




def datetime_to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _columns(rows: Sequence[Sequence], width: int) -> list[list]:
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(width)]


def write_raw_events(client: Client, database: str, events: Sequence[Event], *, ingest_time: datetime) -> int:
    """Insert validated events into raw_events (duplicates collapse by their deterministic id)."""
    if not events:
        return 0
    n = len(events)
    data = [
        [e.event_id for e in events],
        [e.source_id for e in events],
        [e.metric for e in events],
        [float(e.value) for e in events],
        [e.event_time_ms for e in events],
        [datetime_to_ms(ingest_time)] * n,
    ]
    client.insert(f"{database}.raw_events", data, column_names=RAW_EVENT_COLUMNS, column_oriented=True)
    return n


def write_drift_events(client: Client, database: str, transitions: Sequence[Transition], *, detected_at: datetime) -> int:
    if not transitions:
        return 0
    detected_ms = datetime_to_ms(detected_at)
    rows = [
        (
            t.drift_event_id, t.source_id, t.metric, t.event_type, t.event_time_ms, detected_ms,
            t.rolling_mean, t.rolling_std, t.rolling_count, t.baseline_mean, t.baseline_std,
            t.z_score, t.std_ratio, t.trigger_event_id, t.config_version,
        )
        for t in transitions
    ]
    client.insert(f"{database}.drift_events", _columns(rows, len(DRIFT_EVENT_COLUMNS)),
                  column_names=DRIFT_EVENT_COLUMNS, column_oriented=True)
    return len(rows)


def write_statuses(client: Client, database: str, statuses: Sequence[KeyStatus], *, updated_at: datetime) -> int:
    """Upsert current states; version = the key's newest event time, so older never wins."""
    if not statuses:
        return 0
    updated_ms = datetime_to_ms(updated_at)
    rows = [
        (
            s.source_id, s.metric, s.state.value, s.state_since_ms, s.last_event_time_ms,
            s.rolling_mean, s.rolling_std, s.rolling_count, s.baseline_mean, s.baseline_std,
            s.z_score, s.std_ratio, s.config_version, updated_ms, s.last_event_time_ms,
        )
        for s in statuses
    ]
    client.insert(f"{database}.drift_status_current", _columns(rows, len(DRIFT_STATUS_COLUMNS)),
                  column_names=DRIFT_STATUS_COLUMNS, column_oriented=True)
    return len(rows)


def write_checkpoints(client: Client, database: str, rows: Sequence[tuple[str, str, int, int, bytes]], *, created_at: datetime) -> int:
    """Store detector snapshots: rows of (consumer_group, topic, partition, next_offset, state)."""
    if not rows:
        return 0
    created_ms = datetime_to_ms(created_at)
    data = [(g, t, p, o, s, created_ms) for g, t, p, o, s in rows]
    client.insert(f"{database}.detector_checkpoints", _columns(data, len(CHECKPOINT_COLUMNS)),
                  column_names=CHECKPOINT_COLUMNS, column_oriented=True)
    return len(rows)
