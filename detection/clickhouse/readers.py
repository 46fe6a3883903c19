"""Named read queries against ClickHouse (the monitoring API's and dashboard's only SQL).

Rules every query here follows:

- **Bound parameters only.** Every value that comes from a caller travels as a server-side
  parameter (clickhouse-connect's ``{name:Type}`` syntax with ``parameters=``), the database name
  too (``{database:Identifier}``). The only text spliced into SQL is chosen from the fixed
  whitelists in this module (column lists, ``ORDER BY`` expressions, fixed ``WHERE`` fragments),
  never a caller's string.
- **No double counting.** ``drift_status_current`` and ``drift_events`` are ReplacingMergeTrees:
  until a merge runs, a replayed row exists twice. Status is read with ``FINAL`` (the newest
  ``version`` per key wins). Events are read newest-first with a ``LIMIT`` and de-duplicated on
  ``(event_time, drift_event_id)`` here (duplicates share the whole sort key, so they arrive
  adjacent); ``FINAL`` over a million events costs several times more and is not needed for a
  page. ``raw_events`` are de-duplicated with ``LIMIT 1 BY event_id``.
- **Plain values out.** Rows are dicts; ``DateTime64`` values come back as aware UTC datetimes.

Functions take the client and the database name from the caller (the composition root reads
settings), so they are usable from the API, the benchmark and tests alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from detection.clickhouse.tables import DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS
from detection.core.state import DRIFT_END, DRIFT_START, DriftState

DRIFT_STATES = tuple(state.value for state in DriftState)
DRIFT_EVENT_TYPES = (DRIFT_START, DRIFT_END)

_DT = "DateTime64(3, 'UTC')"

# Sortable status fields -> SQL expression. Every ordering ends with (source_id, metric), so the
# order is total and offset pagination is stable.
DRIFT_STATUS_ORDERINGS: dict[str, str] = {
    "source_id": "source_id",
    "metric": "metric",
    "state": "state",
    "state_since": "state_since",
    "last_event_time": "last_event_time",
    "rolling_mean": "rolling_mean",
    "rolling_count": "rolling_count",
    "z_score": "z_score",
    "std_ratio": "std_ratio",
    "updated_at": "updated_at",
}


def _utc(value: datetime | None) -> datetime | None:
    """clickhouse-connect returns naive datetimes for UTC columns: make them aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _rows(result, datetime_columns: Iterable[str]) -> list[dict[str, Any]]:
    names = result.column_names
    dt_indexes = [names.index(c) for c in datetime_columns if c in names]
    rows = []
    for raw in result.result_rows:
        row = list(raw)
        for i in dt_indexes:
            row[i] = _utc(row[i])
        rows.append(dict(zip(names, row)))
    return rows


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


# --- health and bookkeeping -------------------------------------------------------------------
def clickhouse_ping(client: Client, *, database: str, tables: Sequence[str]) -> list[str]:
    """Runs a query round trip and returns which of ``tables`` are missing in ``database``."""
    result = client.query(
        "SELECT name FROM system.tables WHERE database = {database:String} AND name IN {tables:Array(String)}",
        parameters={"database": database, "tables": list(tables)},
    )
    present = {row[0] for row in result.result_rows}
    return [t for t in tables if t not in present]


def table_row_count(client: Client, *, database: str, table: str) -> int:
    """Stored rows of a table, duplicates not yet merged included (for benchmarks and checks)."""
    result = client.query(
        "SELECT count() FROM {database:Identifier}.{table:Identifier}", parameters={"database": database, "table": table}
    )
    return int(result.result_rows[0][0])


# --- drift_status_current -------------------------------------------------------------------
@dataclass(frozen=True)
class DriftStatusPage:
    rows: list[dict[str, Any]]
    count: int  # rows matching every filter
    state_counts: dict[str, int]  # per state, matching every filter except ``state``


def _status_conditions(
    *, source_id: str | None, metric: str | None, metric_prefix: str | None
) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if source_id is not None:
        conditions.append("source_id = {source_id:String}")
        params["source_id"] = source_id
    if metric is not None:
        conditions.append("metric = {metric:String}")
        params["metric"] = metric
    if metric_prefix is not None:
        conditions.append("startsWith(metric, {metric_prefix:String})")
        params["metric_prefix"] = metric_prefix
    return conditions, params


def drift_status_page(
    client: Client,
    *,
    database: str,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    state: str | None = None,
    ordering: Sequence[tuple[str, bool]] = (("source_id", False), ("metric", False)),
    limit: int = 100,
    offset: int = 0,
) -> DriftStatusPage:
    """The latest state of each key (``FINAL``: the newest version wins), one page of it.

    ``ordering`` is a list of (field, descending) with fields from :data:`DRIFT_STATUS_ORDERINGS`.
    """
    if state is not None and state not in DRIFT_STATES:
        raise ValueError(f"unknown state {state!r}")
    order_sql = []
    for field, descending in ordering:
        expr = DRIFT_STATUS_ORDERINGS[field]  # KeyError for anything not whitelisted
        order_sql.append(f"{expr} {'DESC' if descending else 'ASC'} NULLS LAST")
    order_sql += ["source_id ASC", "metric ASC"]

    conditions, params = _status_conditions(source_id=source_id, metric=metric, metric_prefix=metric_prefix)
    params.update(database=database, limit=limit, offset=offset)
    # One pass: the per-state counts are window aggregates over the deduplicated rows that
    # match every filter but ``state``; the state filter, order and page apply after them.
    counts_sql = ", ".join(
        f"countIf(state = '{name}') OVER () AS count_{name.lower()}" for name in DRIFT_STATES
    )
    outer = ""
    if state is not None:
        outer = "WHERE state = {state:String}"
        params["state"] = state
    rows_result = client.query(
        f"SELECT * FROM (SELECT {', '.join(DRIFT_STATUS_COLUMNS)}, {counts_sql} "
        "FROM {database:Identifier}.drift_status_current FINAL "
        f"{_where(conditions)}) {outer} ORDER BY {', '.join(order_sql)} "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        parameters=params,
    )
    rows = _rows(rows_result, ("state_since", "last_event_time", "updated_at"))
    count_keys = [f"count_{name.lower()}" for name in DRIFT_STATES]
    if rows:
        state_counts = {name: int(rows[0][key]) for name, key in zip(DRIFT_STATES, count_keys)}
        for row in rows:
            for key in count_keys:
                del row[key]
    else:  # an empty page carries no counts: ask for them alone
        params.pop("state", None)
        counts_result = client.query(
            "SELECT toString(state) AS state, count() AS n "
            "FROM {database:Identifier}.drift_status_current FINAL "
            f"{_where(conditions)} GROUP BY state",
            parameters=params,
        )
        state_counts = {name: 0 for name in DRIFT_STATES}
        for name, n in counts_result.result_rows:
            state_counts[name] = int(n)
    count = state_counts[state] if state is not None else sum(state_counts.values())
    return DriftStatusPage(rows=rows, count=count, state_counts=state_counts)


def drift_status_get(client: Client, *, database: str, source_id: str, metric: str) -> dict[str, Any] | None:
    """The latest state of one key, or None."""
    result = client.query(
        f"SELECT {', '.join(DRIFT_STATUS_COLUMNS)} "
        "FROM {database:Identifier}.drift_status_current FINAL "
        "WHERE source_id = {source_id:String} AND metric = {metric:String} LIMIT 1",
        parameters={"database": database, "source_id": source_id, "metric": metric},
    )
    rows = _rows(result, ("state_since", "last_event_time", "updated_at"))
    return rows[0] if rows else None


# --- drift_events -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EventPosition:
    """A keyset position in the (event_time, drift_event_id) order of drift_events."""

    event_time: datetime
    drift_event_id: int


def drift_event_list(
    client: Client,
    *,
    database: str,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: EventPosition | None = None,
    descending: bool = True,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to ``limit`` distinct drift events in (event_time, drift_event_id) order.

    ``descending`` selects the direction (newest first by default); ``after`` is the keyset
    position to continue from, exclusive, in that direction. ``since`` is inclusive and
    ``until`` exclusive. Pass ``limit + 1`` to learn whether another page exists.

    A replayed event exists twice until ReplacingMergeTree merges; duplicates share
    (event_time, drift_event_id), so they arrive adjacent and are dropped here; only when they
    left a truncated page short is the page fetched again with four times the room.
    ``FINAL`` would do the same but costs several times more over a million events, because
    the table is sorted by key first and the newest events are scattered over every granule.
    """
    if event_type is not None and event_type not in DRIFT_EVENT_TYPES:
        raise ValueError(f"unknown event_type {event_type!r}")
    conditions, params = _status_conditions(source_id=source_id, metric=metric, metric_prefix=metric_prefix)
    if event_type is not None:
        conditions.append("event_type = {event_type:String}")
        params["event_type"] = event_type
    if since is not None:
        conditions.append(f"event_time >= {{since:{_DT}}}")
        params["since"] = since
    if until is not None:
        conditions.append(f"event_time < {{until:{_DT}}}")
        params["until"] = until
    if after is not None:
        # (event_time, drift_event_id) < (t, id), spelled so that the bound on event_time alone is
        # visible to the index analysis (a time-ordered projection or partition pruning can use
        # it); the tuple form measured twice as slow on a million events.
        op, inclusive = ("<", "<=") if descending else (">", ">=")
        conditions.append(
            f"event_time {inclusive} {{after_time:{_DT}}} "
            f"AND (event_time {op} {{after_time:{_DT}}} OR drift_event_id {op} {{after_id:UInt64}})"
        )
        params["after_time"] = after.event_time
        params["after_id"] = after.drift_event_id
    direction = "DESC" if descending else "ASC"
    params["database"] = database
    sql = (
        f"SELECT {', '.join(DRIFT_EVENT_COLUMNS)} FROM {{database:Identifier}}.drift_events "
        f"{_where(conditions)} ORDER BY event_time {direction}, drift_event_id {direction} "
        "LIMIT {fetch:UInt32}"
    )
    fetch = limit  # duplicates are rare: fetch more only when they left a truncated page short
    while True:
        result = client.query(sql, parameters={**params, "fetch": fetch})
        raw = _rows(result, ("event_time", "detected_at"))
        rows: list[dict[str, Any]] = []
        seen: set[tuple[datetime, int]] = set()
        for row in raw:
            key = (row["event_time"], row["drift_event_id"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
        if len(rows) >= limit or len(raw) < fetch:
            return rows[:limit]
        fetch *= 4


def drift_event_type_before(
    client: Client, *, database: str, source_id: str, metric: str, before: datetime
) -> str | None:
    """The type of the key's last drift event strictly before ``before`` (None if there is none)."""
    result = client.query(
        "SELECT toString(event_type) FROM {database:Identifier}.drift_events "
        "WHERE source_id = {source_id:String} AND metric = {metric:String} "
        f"AND event_time < {{before:{_DT}}} "
        "ORDER BY event_time DESC, drift_event_id DESC LIMIT 1",
        parameters={"database": database, "source_id": source_id, "metric": metric, "before": before},
    )
    return result.result_rows[0][0] if result.result_rows else None


# --- raw_events -------------------------------------------------------------------------------
def raw_event_time_bounds(
    client: Client, *, database: str, source_id: str, metric: str, until: datetime | None, newest: int
) -> tuple[datetime, datetime] | None:
    """(event time of the ``newest``-th newest event, newest event time) of a key before ``until``."""
    conditions = ["source_id = {source_id:String}", "metric = {metric:String}"]
    params: dict[str, Any] = {"database": database, "source_id": source_id, "metric": metric, "newest": newest}
    if until is not None:
        conditions.append(f"event_time < {{until:{_DT}}}")
        params["until"] = until
    result = client.query(
        "SELECT min(event_time), max(event_time), count() FROM ("
        "SELECT event_time FROM {database:Identifier}.raw_events "
        f"{_where(conditions)} ORDER BY event_time DESC, event_id DESC LIMIT 1 BY event_id LIMIT {{newest:UInt32}})",
        parameters=params,
    )
    low, high, n = result.result_rows[0]
    if not n:
        return None
    return _utc(low), _utc(high)


def raw_event_series(
    client: Client,
    *,
    database: str,
    source_id: str,
    metric: str,
    since: datetime,
    until: datetime | None,
    window_seconds: float | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A key's distinct raw events in [since, until), oldest first, at most the newest ``limit``.

    Each point carries ``rolling_mean``: the mean of the key's values in the event-time window
    ``(event_time - window_seconds, event_time]`` (events before ``since`` count towards it),
    or None when ``window_seconds`` is None.
    """
    params: dict[str, Any] = {
        "database": database,
        "source_id": source_id,
        "metric": metric,
        "since": since,
        "limit": limit,
    }
    inner_conditions = ["source_id = {source_id:String}", "metric = {metric:String}"]
    if until is not None:
        inner_conditions.append(f"event_time < {{until:{_DT}}}")
        params["until"] = until
    if window_seconds is None:
        inner_conditions.append(f"event_time >= {{since:{_DT}}}")
        rolling = "CAST(NULL AS Nullable(Float64))"
    else:
        window_ms = max(0, int(window_seconds * 1000) - 1)  # (t - window, t]
        inner_conditions.append(f"event_time >= {{since:{_DT}}} - toIntervalMillisecond({{window_ms:UInt64}})")
        params["window_ms"] = window_ms
        rolling = (
            "avg(value) OVER (ORDER BY toUnixTimestamp64Milli(event_time) "
            "RANGE BETWEEN {window_ms:UInt64} PRECEDING AND CURRENT ROW)"
        )
    result = client.query(
        "SELECT event_time, value, rolling_mean FROM ("
        f"SELECT event_time, value, {rolling} AS rolling_mean FROM ("
        "SELECT event_time, value FROM {database:Identifier}.raw_events "
        f"{_where(inner_conditions)} "
        "ORDER BY event_time, event_id LIMIT 1 BY event_id)"
        f") WHERE event_time >= {{since:{_DT}}} "
        "ORDER BY event_time DESC LIMIT {limit:UInt32}",
        parameters=params,
    )
    rows = _rows(result, ("event_time",))
    rows.reverse()
    return rows
