"""Batch writers: the only INSERTs into ClickHouse.

Each call is one column-oriented insert (every insert costs ~6-7 ms on chDB whatever its size,
so callers batch). Every DateTime64(3) value, the callers' wall-clock stamps included, is
integer epoch milliseconds, which clickhouse-connect writes as raw ticks (no datetime objects
on the hot path). Rows come from the pure core as plain tuples; encoding lives here, transport
is clickhouse-connect. Idempotency comes from deterministic ids + ReplacingMergeTree, not from
insert deduplication (which is off on non-replicated MergeTree).

raw_events and drift_events are partitioned by month of event time, and ClickHouse refuses an
insert that touches more than ``max_partitions_per_insert_block`` (100) partitions. A batch
whose event times span more than :data:`MONTHS_PER_INSERT` months is therefore split into
inserts of at most that many months each (rare: only unusual input spans months; the fast
path checks the time span first). A split batch is not atomic, which is fine: every row is
idempotent and the caller commits nothing until every insert succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from detection.clickhouse.tables import CHECKPOINT_COLUMNS, DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS, RAW_EVENT_COLUMNS
from detection.core.detector import KeyStatus, Transition
from detection.core.events import Event


MONTHS_PER_INSERT = 90
_FAST_SPAN_MS = (MONTHS_PER_INSERT - 2) * 28 * 86_400_000  # any span this short fits for sure


def _month(ms: int) -> int:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.year * 12 + moment.month


def month_chunks(items: Sequence, time_ms: Callable[[object], int]) -> list[Sequence]:
    """``items`` in groups whose event times span at most MONTHS_PER_INSERT calendar months.

    >>> month_chunks([1, 2], lambda ms: ms)
    [[1, 2]]
    >>> month = 31 * 86_400_000  # 200 events, one per calendar month
    >>> [len(c) for c in month_chunks([i * month for i in range(200)], lambda ms: ms)]
    [90, 90, 20]
    """
    if not items:
        return []
    times = [time_ms(item) for item in items]
    if max(times) - min(times) < _FAST_SPAN_MS:
        return [items]
    by_month: dict[int, list] = {}
    for item, ms in zip(items, times):
        by_month.setdefault(_month(ms), []).append(item)
    chunks, current, months = [], [], 0
    for month in sorted(by_month):
        if months == MONTHS_PER_INSERT:
            chunks.append(current)
            current, months = [], 0
        current.extend(by_month[month])
        months += 1
    chunks.append(current)
    return chunks


def _insert_rows(client: Client, database: str, table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """Insert row tuples as columns (one insert); returns the number of rows."""
    if not rows:
        return 0
    client.insert(f"{database}.{table}", [list(col) for col in zip(*rows)], column_names=columns, column_oriented=True)
    return len(rows)


def write_raw_events(client: Client, database: str, events: Sequence[Event], *, ingest_time_ms: int) -> int:
    """Insert validated events into raw_events (duplicates collapse by their deterministic id)."""
    for chunk in month_chunks(events, lambda e: e.event_time_ms):
        data = [
            [e.event_id for e in chunk],
            [e.source_id for e in chunk],
            [e.metric for e in chunk],
            [float(e.value) for e in chunk],
            [e.event_time_ms for e in chunk],
            [ingest_time_ms] * len(chunk),
        ]
        client.insert(f"{database}.raw_events", data, column_names=RAW_EVENT_COLUMNS, column_oriented=True)
    return len(events)


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
    for chunk in month_chunks(rows, lambda row: row[4]):
        _insert_rows(client, database, "drift_events", DRIFT_EVENT_COLUMNS, chunk)
    return len(rows)


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
