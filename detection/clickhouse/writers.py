"""Batch writers: the only INSERTs into ClickHouse.

Each call is one column-oriented insert (every insert costs ~6-7 ms on chDB whatever its size,
so callers batch). Every DateTime64(3) value, the callers' wall-clock stamps included, is
integer epoch milliseconds, which clickhouse-connect writes as raw ticks (no datetime objects
on the hot path). Rows come from the pure core as plain tuples; encoding lives here, transport
is clickhouse-connect. Idempotency comes from deterministic ids + ReplacingMergeTree, not from
insert deduplication (which is off on non-replicated MergeTree).
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from detection.clickhouse.tables import CHECKPOINT_COLUMNS, DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS, RAW_EVENT_COLUMNS
from detection.core.detector import KeyStatus, Transition
from detection.core.events import Event


def _insert_rows(client: Client, database: str, table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Insert row tuples as columns (one insert); returns the number of rows."""
    if not rows:
        return 0
    client.insert(f"{database}.{table}", [list(col) for col in zip(*rows)], column_names=columns, column_oriented=True)
    return len(rows)


def write_raw_events(client: Client, database: str, events: Sequence[Event], *, ingest_time_ms: int) -> int:
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
        [ingest_time_ms] * n,
    ]
    client.insert(f"{database}.raw_events", data, column_names=RAW_EVENT_COLUMNS, column_oriented=True)
    return n


def write_drift_events(client: Client, database: str, transitions: Sequence[Transition], *, detected_at_ms: int) -> int:
    rows = [
        (
            t.drift_event_id, t.source_id, t.metric, t.event_type, t.event_time_ms, detected_at_ms,
            t.rolling_mean, t.rolling_std, t.rolling_count, t.baseline_mean, t.baseline_std,
            t.z_score, t.std_ratio, t.trigger_event_id, t.config_version,
            t.method, t.statistic_name or "", t.statistic, t.threshold,
            list(t.cusum_statistics or ()), list(t.cusum_thresholds or ()),
        )
        for t in transitions
    ]
    return _insert_rows(client, database, "drift_events", DRIFT_EVENT_COLUMNS, rows)


def write_statuses(client: Client, database: str, statuses: Sequence[KeyStatus], *, updated_at_ms: int) -> int:
    """Upsert current states; version = the key's newest event time, so older never wins."""
    rows = [
        (
            s.source_id, s.metric, s.state.value, s.state_since_ms, s.last_event_time_ms,
            s.rolling_mean, s.rolling_std, s.rolling_count, s.baseline_mean, s.baseline_std,
            s.z_score, s.std_ratio, s.config_version, updated_at_ms, s.last_event_time_ms,
            s.method, s.statistic_name or "", s.statistic, s.threshold,
            list(s.cusum_statistics or ()), list(s.cusum_thresholds or ()),
        )
        for s in statuses
    ]
    return _insert_rows(client, database, "drift_status_current", DRIFT_STATUS_COLUMNS, rows)


def write_checkpoints(client: Client, database: str, rows: Sequence[tuple[str, str, int, int, bytes]], *,
                      created_at_ms: int) -> int:
    """Store detector snapshots: rows of (consumer_group, topic, partition, next_offset, state)."""
    data = [(g, t, p, o, s, created_at_ms) for g, t, p, o, s in rows]
    return _insert_rows(client, database, "detector_checkpoints", CHECKPOINT_COLUMNS, data)
