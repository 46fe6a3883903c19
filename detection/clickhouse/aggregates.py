"""Baseline SQL: the per-key moments of a slice of ``raw_events``, aggregated in ClickHouse.

The caller (:func:`detection.baselines.fold.baseline_fold`, through
:func:`config_app.services.baselines.baseline_fold`) merges the rows returned here
into ``baseline_stats``; the exactly-once reasoning lives in that module's docstring. This module
only answers one question, for a slice of ingest times ``(after, until]``:

    per (source_id, metric): count, mean and M2 of the DISTINCT events whose earliest stored
    copy was ingested inside the slice, and the lag-1 sums of their values in event-time order
    (:class:`~detection.core.autocorrelation.LagOneState`, for the baseline's autocorrelation).

- **Dedup inside the slice:** rows are collapsed by ``event_id`` (``GROUP BY event_id`` with
  ``any()``: copies of an event have the same content, since the id hashes it).
- **Dedup against the past (the guard):** an event that also has a copy ingested at or before
  ``after`` was counted by an earlier fold and is dropped. The guard only scans the slice's
  event-time range (copies share ``event_time``, which the id hashes; the range lets
  ``PARTITION BY toYYYYMM(event_time)`` prune old months) and probes it against the slice's ids.
- **Precision:** ``varPopStable`` (Welford/Chan inside ClickHouse) times ``count()`` is M2, and
  the mean is a compensated sum (``sumKahan``), so values like 1e9 + small noise keep their
  digits. No raw sums of squares anywhere.
- **Optional exclusion of drifting intervals:** for the keys a caller names, events whose
  ``event_time`` falls inside a DRIFTING interval of their key are left out. The key's state at
  an event time is the type of its latest ``drift_events`` transition at or before that time
  (an ``ASOF`` join): from a ``DRIFT_START`` (inclusive) to the next ``DRIFT_END`` (exclusive)
  it is drifting; an open interval runs on.

Times cross the boundary as integer epoch milliseconds (``DateTime64(3)`` resolution), so there
is no timezone or sub-millisecond ambiguity between Python, Postgres and ClickHouse.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client

from detection.core.autocorrelation import LagOneState
from detection.core.slices import KeyMoments

_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The slice: rows ingested in (after, until]. Without a lower bound (a first fold, a rebuild)
# it is every row ingested up to ``until``.
_IN_SLICE = """
    ingest_time > fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')
    AND ingest_time <= fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
"""
_UP_TO_UNTIL = """
    ingest_time <= fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
"""

# One row per distinct event_id of the slice.
_DISTINCT = """
    SELECT event_id, any(source_id) AS source_id, any(metric) AS metric,
           any(value) AS value, any(event_time) AS event_time
    FROM {database}.raw_events
    WHERE {slice}
    GROUP BY event_id
"""

# The guard: event ids of the slice that an earlier fold has already counted (a copy of the
# event was ingested at or before ``after``). Older rows are searched only in the slice's
# event-time range (partition pruning) and probed against the set of the slice's ids, so the
# set that is built is the slice's, not the whole history's (3x faster at 1M new / 10M old).
_GUARD = """
    SELECT event_id
    FROM {database}.raw_events
    WHERE ingest_time <= fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')
      AND event_time >= (SELECT min(event_time) FROM {database}.raw_events WHERE {slice})
      AND event_time <= (SELECT max(event_time) FROM {database}.raw_events WHERE {slice})
      AND event_id IN (SELECT event_id FROM {database}.raw_events WHERE {slice})
"""

# Per excluded key, its transitions: drifting = 1 from a DRIFT_START until the next DRIFT_END.
# A replayed transition has the same drift_event_id, hence the GROUP BY.
_TRANSITIONS = """
    SELECT source_id, metric, event_time, event_type = 'DRIFT_START' AS drifting
    FROM {database}.drift_events
    WHERE (source_id, metric) IN {excluded_keys:Array(Tuple(String, String))}
    GROUP BY drift_event_id, source_id, metric, event_time, event_type
"""

# An event is left out when the latest transition of its key at or before its event time is a
# DRIFT_START (ASOF join; an event before any transition finds none and is kept: drifting is
# the column default 0, or NULL where join_use_nulls is set).
_OUTSIDE_DRIFT = """
    SELECT fresh.event_id AS event_id, fresh.source_id AS source_id, fresh.metric AS metric,
           fresh.value AS value, fresh.event_time AS event_time
    FROM ({fresh}) AS fresh
    ASOF LEFT JOIN ({transitions}) AS state
        ON fresh.source_id = state.source_id AND fresh.metric = state.metric
       AND fresh.event_time >= state.event_time
    WHERE ifNull(state.drifting, 0) = 0
"""

# The lag-1 sums of the slice (detection.core.autocorrelation.LagOneState): per key, in
# event-time order (ties by event_id), y = value - K with K = the key's first value of the slice,
# so y_first = 0; sp sums y_i * y_{i+1} over consecutive events of the slice.
_ORDERED = """
    SELECT source_id, metric, value, event_time, event_id,
           value - first_value(value) OVER w AS y,
           lagInFrame(value) OVER w - first_value(value) OVER w AS y_prev,
           first_value(value) OVER w AS k,
           row_number() OVER w AS rn
    FROM ({fresh}) AS fresh_events
    WINDOW w AS (PARTITION BY source_id, metric ORDER BY event_time, event_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
"""

_AGGREGATE = """
SELECT
    source_id,
    metric,
    count() AS events,
    sumKahan(value) / count() AS mean,
    varPopStable(value) * count() AS m2,
    toUnixTimestamp64Milli(min(event_time)) AS first_event_ms,
    toUnixTimestamp64Milli(max(event_time)) AS last_event_ms,
    any(k) AS lag_shift,
    sumKahan(y) AS lag_s1,
    sumKahan(y * y) AS lag_s2,
    sumKahanIf(y * y_prev, rn > 1) AS lag_sp,
    argMax(y, (event_time, event_id)) AS lag_last
FROM ({ordered}) AS events
GROUP BY source_id, metric
ORDER BY source_id, metric
"""

_SLICE_KEYS = """
SELECT DISTINCT source_id, metric
FROM {database}.raw_events
WHERE {slice}
"""


def _database(name: str) -> str:
    if not _IDENTIFIER_RE.match(name):
        raise ValueError(f"ClickHouse database name {name!r} is not a plain identifier")
    return name


def _slice_parameters(after_ms: int | None, until_ms: int) -> tuple[str, dict[str, object]]:
    if after_ms is None:
        return _UP_TO_UNTIL, {"until_ms": until_ms}
    if after_ms >= until_ms:
        raise ValueError(f"empty slice: after_ms={after_ms} >= until_ms={until_ms}")
    return _IN_SLICE, {"after_ms": after_ms, "until_ms": until_ms}


def fold_sql(*, database: str, guarded: bool, exclude_drifting: bool) -> str:
    """The aggregate query, with ``{name:Type}`` parameters left for the server to bind."""
    fresh = _DISTINCT
    if guarded:
        fresh = f"SELECT * FROM ({_DISTINCT}) WHERE event_id NOT IN ({_GUARD})"
    if exclude_drifting:
        fresh = _OUTSIDE_DRIFT.replace("{fresh}", fresh).replace("{transitions}", _TRANSITIONS)
    return _AGGREGATE.replace("{ordered}", _ORDERED).replace("{fresh}", fresh).replace("{slice}", _IN_SLICE if guarded else _UP_TO_UNTIL).replace(
        "{database}", _database(database)
    )


def slice_moments(
    client: Client,
    *,
    database: str,
    after_ms: int | None,
    until_ms: int,
    excluded_keys: list[tuple[str, str]] | None = None,
) -> list[KeyMoments]:
    """Per-key moments of the distinct events first ingested in ``(after_ms, until_ms]``.

    ``after_ms=None`` means "from the beginning" (a first fold or a rebuild: no guard needed).
    ``excluded_keys``: keys whose events inside DRIFTING intervals are left out.
    """
    _, parameters = _slice_parameters(after_ms, until_ms)
    if excluded_keys:
        parameters["excluded_keys"] = [tuple(key) for key in excluded_keys]
    sql = fold_sql(database=database, guarded=after_ms is not None, exclude_drifting=bool(excluded_keys))
    result = client.query(sql, parameters=parameters)
    return [
        KeyMoments(
            source_id=source_id,
            metric=metric,
            count=int(events),
            mean=float(mean),
            m2=max(float(m2), 0.0),
            first_event_ms=int(first_ms),
            last_event_ms=int(last_ms),
            lag=LagOneState(int(events), float(k), float(s1), float(s2), float(sp), 0.0, float(last)),
        )
        for source_id, metric, events, mean, m2, first_ms, last_ms, k, s1, s2, sp, last in result.result_rows
    ]


def slice_keys(client: Client, *, database: str, after_ms: int | None, until_ms: int) -> list[tuple[str, str]]:
    """The keys with rows ingested in the slice (to resolve per-key options before aggregating)."""
    condition, parameters = _slice_parameters(after_ms, until_ms)
    sql = _SLICE_KEYS.replace("{slice}", condition).replace("{database}", _database(database))
    return [(source_id, metric) for source_id, metric in client.query(sql, parameters=parameters).result_rows]
