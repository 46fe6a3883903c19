"""Baseline fold, PostgreSQL side: per-key moments of new raw events -> Chan merge into baseline_stats.

:func:`baseline_fold` is the one function behind the Airflow DAG ``baseline_update``,
``manage.py update_baselines`` and the embedded stack's scheduler, which call it through
:mod:`detection.baselines.fold`: that module hands in the event store's side (a
:class:`SliceReader` over ClickHouse), so this app owns PostgreSQL and never imports ClickHouse
code. The caller passes the time (``until``: Airflow's ``data_interval_end``); nothing here reads
the clock to choose data.

Exactly once: the design
------------------------
1. **One ingest-time watermark.** ``baseline_fold_state`` (a single row) holds ``W``, the
   ingest time up to which raw events are folded in, for all keys. A fold reads the slice
   ``W < ingest_time <= C`` with ``C = until - safety_lag`` (floored to milliseconds, the
   resolution of ``raw_events``) and stores ``C`` as the new ``W`` in the SAME Postgres
   transaction as the merged statistics: both move, or neither does.
2. **Each event belongs to the slice that holds its earliest copy.** In ClickHouse the slice is
   collapsed by ``event_id``, and an event that also has a copy ingested at or before ``W`` was
   counted by an earlier fold and is dropped (the guard, restricted to the slice's event-time
   range because copies share ``event_time``). So a duplicate (same ``event_id`` inserted again,
   in the same or a later batch, with any ingest time) and a late event (old ``event_time``, new
   ``ingest_time``) each count once, and re-running an interval (``C <= W``) changes nothing.
3. **Overlapping runs queue.** A fold locks the state row (``SELECT ... FOR UPDATE``) before it
   reads ``W`` and keeps the lock, across the ClickHouse read, until it commits; a concurrent
   fold waits and then sees the new ``W``.
4. **The safety lag** must cover the time between a row's ``ingest_time`` and the moment it is
   visible to readers (insert duration) plus the clock skew between ClickHouse (which stamps
   ``ingest_time``) and the caller's clock. A row that turns visible later with an ingest time
   ``<= W`` would never be folded. Default ``BASELINE_SAFETY_LAG_SECONDS`` = 5.
5. **Merges keep the earliest copy.** ``raw_events`` is a ``ReplacingMergeTree`` whose version
   column (``first_copy_rank``) decreases with ``ingest_time``, so a background merge keeps the
   EARLIEST copy of an event: the copy an earlier fold counted survives, and the guard still
   recognises a later duplicate (``test_duplicate_merged_away_before_next_fold``).

Statistics
----------
ClickHouse returns per key the count, mean (compensated sum) and M2 (``varPopStable * count``)
of the slice's new distinct events; each is merged into the stored row with Chan's parallel
update (:func:`detection.core.moments.merge`), so the whole history keeps its weight and nothing
is reset. A key's first baseline is its first batch. ``window_start``/``window_end`` widen to the
event times folded in; ``baseline_stats.high_water_mark`` is set to ``W`` on the rows a fold
updates (rows a fold does not touch keep the watermark of their last update; the global one is
``baseline_fold_state.high_water_mark``). Every update also writes one ``baseline_history`` row.

``rebuild=True`` recomputes every key from all raw events ingested up to ``C`` and replaces the
stored statistics in one transaction (keys without raw events are deleted); ``W`` becomes ``C``.

Optional: leaving drifting intervals out
----------------------------------------
``metric_thresholds.baseline_excludes_drifting`` (default off), resolved per key with the usual
precedence (source+metric > metric > default row; disabled rows skipped): for such keys, events
whose ``event_time`` lies inside one of the key's DRIFTING intervals (from a ``DRIFT_START`` to
the next ``DRIFT_END`` in ``drift_events``; an open interval runs on) are not folded in. The
intervals are those known when the fold runs: events folded before the detector reported a
drift stay in the baseline (a ``--rebuild`` applies the intervals known then to all history).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from config_app.models import ANY, BaselineFoldState, BaselineHistory, BaselineStats, MetricThreshold
from detection.core.autocorrelation import LagOneState
from detection.core.events import datetime_to_ms
from detection.core.moments import merge
from detection.core.slices import KeyMoments

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TABLE = BaselineStats._meta.db_table
_DELETE_CHUNK = 10_000
_RUN_ID_MAX = BaselineHistory._meta.get_field("run_id").max_length


@dataclass(frozen=True)
class FoldResult:
    """What one :func:`baseline_fold` call did."""

    keys_updated: int
    events_folded: int
    high_water_mark: datetime | None
    previous_high_water_mark: datetime | None
    rebuilt: bool = False
    keys_removed: int = 0
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        """True when the interval had already been folded (nothing changed)."""
        return self.high_water_mark == self.previous_high_water_mark and not self.rebuilt

    def summary(self) -> str:
        action = "rebuilt" if self.rebuilt else "folded"
        text = (
            f"{action}: {self.keys_updated} keys updated, {self.events_folded} events folded, "
            f"high-water mark {_iso(self.previous_high_water_mark)} -> {_iso(self.high_water_mark)}, "
            f"{self.seconds:.3f} s"
        )
        if self.keys_removed:
            text += f", {self.keys_removed} keys without raw events removed"
        return text + (" (interval already folded: no change)" if self.skipped else "")


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "none"


def _from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


class SliceReader(Protocol):
    """The event store's side of a fold: per-key aggregates of a slice of raw events.

    A slice is the events first ingested in ``(after_ms, until_ms]`` (``after_ms=None``: from the
    beginning); ClickHouse's implementation is :class:`detection.baselines.fold.ClickHouseSlices`.
    It is called inside the fold's transaction, after the fold-state row was locked.
    """

    def keys(self, *, after_ms: int | None, until_ms: int) -> list[tuple[str, str]]:
        """The keys with events in the slice."""

    def moments(
        self, *, after_ms: int | None, until_ms: int, excluded_keys: list[tuple[str, str]],
    ) -> list[KeyMoments]:
        """Per key, the moments of the slice's new distinct events (``excluded_keys``: keys whose
        events inside DRIFTING intervals are left out)."""


def baseline_fold(
    *,
    until: datetime,
    slices: SliceReader,
    safety_lag_seconds: float | None = None,
    rebuild: bool = False,
    run_id: str = "",
) -> FoldResult:
    """Fold the raw events ingested up to ``until - safety_lag_seconds`` into ``baseline_stats``.

    Idempotent per interval and safe to run concurrently (see the module docstring).
    ``safety_lag_seconds`` defaults to ``settings.BASELINE_SAFETY_LAG_SECONDS``. ``run_id`` (the
    Airflow DAG run, if any) is recorded on every ``baseline_history`` row this fold writes.
    """
    if len(run_id) > _RUN_ID_MAX:
        raise ValueError(f"run_id is longer than {_RUN_ID_MAX} characters: {run_id[:40]!r}...")
    lag = settings.BASELINE_SAFETY_LAG_SECONDS if safety_lag_seconds is None else safety_lag_seconds
    if not (isinstance(lag, (int, float)) and math.isfinite(lag) and lag >= 0):
        raise ValueError(f"safety_lag_seconds must be a finite number >= 0, got {lag!r}")
    cutoff_ms = datetime_to_ms(until - timedelta(seconds=lag))
    cutoff = _from_ms(cutoff_ms)
    started = time.perf_counter()

    with transaction.atomic():
        state = _locked_state()
        previous = state.high_water_mark
        if not rebuild and previous is not None and cutoff <= previous:
            return FoldResult(0, 0, previous, previous, seconds=time.perf_counter() - started)

        after_ms = None if rebuild or previous is None else datetime_to_ms(previous)
        excluded = _keys_excluding_drift(slices, after_ms=after_ms, until_ms=cutoff_ms)
        rows = slices.moments(after_ms=after_ms, until_ms=cutoff_ms, excluded_keys=excluded)
        _check_finite(rows)
        now = timezone.now()
        removed = _delete_other_keys(rows) if rebuild else 0
        stats = _fresh(rows) if rebuild else _merge_into(rows)
        kind = BaselineHistory.Kind.REBUILD if rebuild else BaselineHistory.Kind.FOLD
        _write(stats, rows, high_water_mark=cutoff, kind=kind, now=now, run_id=run_id)
        state.high_water_mark = cutoff
        state.save(update_fields=["high_water_mark", "updated_at"])

    result = FoldResult(
        keys_updated=len(rows),
        events_folded=sum(row.count for row in rows),
        high_water_mark=cutoff,
        previous_high_water_mark=previous,
        rebuilt=rebuild,
        keys_removed=removed,
        seconds=time.perf_counter() - started,
    )
    logger.info("baseline %s", result.summary())
    return result


def _locked_state() -> BaselineFoldState:
    """The fold-state row, created if missing, locked until the surrounding transaction ends."""
    # ON CONFLICT DO NOTHING: a concurrent first fold waits on the unique index, then finds the row.
    BaselineFoldState.objects.bulk_create([BaselineFoldState(id=1)], ignore_conflicts=True)
    return BaselineFoldState.objects.select_for_update().get(id=1)


def _check_finite(rows: Iterable[KeyMoments]) -> None:
    for row in rows:
        if not (math.isfinite(row.mean) and math.isfinite(row.m2)):
            raise ValueError(f"non-finite moments for {row.source_id}/{row.metric}: mean={row.mean} m2={row.m2}")


def _keys_excluding_drift(slices: SliceReader, *, after_ms: int | None, until_ms: int) -> list[tuple[str, str]]:
    """Keys of the slice whose resolved threshold row asks to leave drifting intervals out."""
    rules = {
        (source_id, metric): flag
        for source_id, metric, flag in MetricThreshold.objects.filter(enabled=True).values_list(
            "source_id", "metric", "baseline_excludes_drifting"
        )
    }
    if not any(rules.values()):
        return []

    def excludes(source_id: str, metric: str) -> bool:
        for scope in ((source_id, metric), (ANY, metric), (ANY, ANY)):
            if scope in rules:
                return rules[scope]
        return False

    keys = slices.keys(after_ms=after_ms, until_ms=until_ms)
    return [key for key in keys if excludes(*key)]


@dataclass(frozen=True, slots=True)
class _Stats:
    """A baseline row to write: (source_id, metric) and its statistics after the update."""

    source_id: str
    metric: str
    count: int
    mean: float
    m2: float
    window_start: datetime | None
    window_end: datetime | None
    lag: LagOneState


def _merge_into(rows: list[KeyMoments]) -> list[_Stats]:
    """Chan-merge each key's batch into its stored row; a key without a row starts from its batch."""
    if not rows:
        return []
    stored = _locked_rows([row.source_id for row in rows], [row.metric for row in rows])
    out = []
    for row in rows:
        count, mean, m2, window_start, window_end, *lag = stored.get(
            (row.source_id, row.metric), (0, 0.0, 0.0, None, None, *LagOneState.empty())
        )
        count, mean, m2 = merge(count, mean, m2, row.count, row.mean, row.m2)
        first, last = _from_ms(row.first_event_ms), _from_ms(row.last_event_ms)
        out.append(_Stats(
            row.source_id, row.metric, count, mean, max(m2, 0.0),
            first if window_start is None else min(window_start, first),
            last if window_end is None else max(window_end, last),
            LagOneState(*lag).then(row.lag),
        ))
    return out


_LOCKED_ROWS = """
SELECT stored.source_id, stored.metric, stored.count, stored.mean, stored.m2,
       stored.window_start, stored.window_end, stored.lag_count, stored.lag_shift, stored.lag_s1,
       stored.lag_s2, stored.lag_sp, stored.lag_first, stored.lag_last
FROM {table} AS stored
JOIN unnest(%(source_id)s::varchar[], %(metric)s::varchar[]) AS wanted (source_id, metric)
  ON stored.source_id = wanted.source_id AND stored.metric = wanted.metric
FOR UPDATE OF stored
"""


def _locked_rows(source_ids: list[str], metrics: list[str]) -> dict[tuple[str, str], tuple]:
    """The stored rows of these keys, locked; keys are passed as two arrays (a list of
    placeholders would hit PostgreSQL's 65535-parameter limit beyond that many keys)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCKED_ROWS.format(table=_TABLE), {"source_id": source_ids, "metric": metrics})
        return {(source_id, metric): tuple(rest) for source_id, metric, *rest in cursor.fetchall()}


def _fresh(rows: list[KeyMoments]) -> list[_Stats]:
    """Rebuild: each key's statistics are exactly its recomputed ones."""
    return [
        _Stats(row.source_id, row.metric, row.count, row.mean, row.m2,
               _from_ms(row.first_event_ms), _from_ms(row.last_event_ms), row.lag)
        for row in rows
    ]


def _delete_other_keys(rows: list[KeyMoments]) -> int:
    """Rebuild: remove the baselines of keys that have no raw events (their history goes too)."""
    keep = {(row.source_id, row.metric) for row in rows}
    stale = [
        pk
        for pk, source_id, metric in BaselineStats.objects.select_for_update().values_list("pk", "source_id", "metric")
        if (source_id, metric) not in keep
    ]
    removed = 0
    for start in range(0, len(stale), _DELETE_CHUNK):  # chunks: one placeholder per id
        deleted = BaselineStats.objects.filter(pk__in=stale[start:start + _DELETE_CHUNK]).delete()[1]
        removed += deleted.get(BaselineStats._meta.label, 0)
    return removed


_WRITE = """
WITH batch AS (
    SELECT *
    FROM unnest(%(source_id)s::varchar[], %(metric)s::varchar[], %(count)s::bigint[], %(mean)s::float8[],
                %(m2)s::float8[], %(window_start)s::timestamptz[], %(window_end)s::timestamptz[],
                %(events)s::bigint[], %(autocorrelation)s::float8[], %(lag_count)s::bigint[],
                %(lag_shift)s::float8[], %(lag_s1)s::float8[], %(lag_s2)s::float8[], %(lag_sp)s::float8[],
                %(lag_first)s::float8[], %(lag_last)s::float8[])
         AS batch (source_id, metric, count, mean, m2, window_start, window_end, events, autocorrelation,
                   lag_count, lag_shift, lag_s1, lag_s2, lag_sp, lag_first, lag_last)
),
written AS (
    INSERT INTO {stats} AS stored
        (source_id, metric, count, mean, m2, window_start, window_end, high_water_mark, updated_at,
         autocorrelation, lag_count, lag_shift, lag_s1, lag_s2, lag_sp, lag_first, lag_last)
    SELECT source_id, metric, count, mean, m2, window_start, window_end, %(high_water_mark)s, %(now)s,
           autocorrelation, lag_count, lag_shift, lag_s1, lag_s2, lag_sp, lag_first, lag_last
    FROM batch
    ON CONFLICT (source_id, metric) DO UPDATE SET
        count = EXCLUDED.count, mean = EXCLUDED.mean, m2 = EXCLUDED.m2,
        window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
        high_water_mark = EXCLUDED.high_water_mark, updated_at = EXCLUDED.updated_at,
        autocorrelation = EXCLUDED.autocorrelation, lag_count = EXCLUDED.lag_count,
        lag_shift = EXCLUDED.lag_shift, lag_s1 = EXCLUDED.lag_s1, lag_s2 = EXCLUDED.lag_s2,
        lag_sp = EXCLUDED.lag_sp, lag_first = EXCLUDED.lag_first, lag_last = EXCLUDED.lag_last
    RETURNING stored.id, stored.source_id, stored.metric, stored.count, stored.mean, stored.m2,
              stored.autocorrelation
)
INSERT INTO {history} (baseline_id, kind, events, count, mean, m2, autocorrelation, high_water_mark, recorded_at, run_id)
SELECT written.id, %(kind)s, batch.events, written.count, written.mean, written.m2, written.autocorrelation,
       %(high_water_mark)s, %(now)s, %(run_id)s
FROM written JOIN batch ON batch.source_id = written.source_id AND batch.metric = written.metric
"""


def _write(
    stats: list[_Stats], rows: list[KeyMoments], *, high_water_mark: datetime, kind: str, now: datetime,
    run_id: str,
) -> None:
    """Store the new statistics and one history row per key: ONE statement, whatever the key count.

    The keys travel as arrays that PostgreSQL unnests (no per-value placeholders, no 65535-
    parameter limit); the upsert's RETURNING feeds the history insert (a data-modifying CTE).
    The values are already merged (in Python, with the core's ``merge``); the rows were locked by
    :func:`_locked_rows` (or, for a rebuild, by :func:`_delete_other_keys`).
    """
    if not stats:
        return
    params = {
        "source_id": [s.source_id for s in stats],
        "metric": [s.metric for s in stats],
        "count": [s.count for s in stats],
        "mean": [s.mean for s in stats],
        "m2": [s.m2 for s in stats],
        "window_start": [s.window_start for s in stats],
        "window_end": [s.window_end for s in stats],
        "events": [row.count for row in rows],
        "autocorrelation": [s.lag.value() for s in stats],
        **{f"lag_{name}": [getattr(s.lag, name) for s in stats] for name in LagOneState._fields},
        "high_water_mark": high_water_mark,
        "now": now,
        "kind": kind,
        "run_id": run_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_WRITE.format(stats=_TABLE, history=BaselineHistory._meta.db_table), params)


def baseline_fold_for_run(*, until: datetime, run_id: str, slices: SliceReader) -> dict:
    """The fold of one scheduled run (an Airflow DAG run): :func:`baseline_fold` plus its answer.

    Both paths of the DAG end here: the task itself in server mode, ``run_stack``'s internal
    endpoint in embedded mode. A repeated call for the same run (Airflow retries a task whose
    first attempt folded but never got the answer, or a cleared task) folds nothing, because its
    interval is already below the high-water mark, and answers with what that run folded the
    first time, read back from the ``baseline_history`` rows it wrote (``replayed: true``). So
    each event is counted once, and the run's XCom counts it once too.

    Returns a JSON-ready dict: ``result`` (``folded``, ``nothing_new``, ``already_folded``),
    ``run_id``, ``keys_updated``, ``events_folded``, ``high_water_mark``,
    ``previous_high_water_mark`` (ISO-8601 or null), ``replayed``, ``seconds``.
    """
    if not run_id:
        raise ValueError("run_id must not be empty")
    result = baseline_fold(until=until, run_id=run_id, slices=slices)
    answer = {
        "run_id": run_id,
        "keys_updated": result.keys_updated,
        "events_folded": result.events_folded,
        "high_water_mark": _iso_or_none(result.high_water_mark),
        "previous_high_water_mark": _iso_or_none(result.previous_high_water_mark),
        "replayed": False,
        "seconds": round(result.seconds, 3),
    }
    if not result.skipped:
        return {"result": "folded" if result.keys_updated else "nothing_new", **answer}
    earlier = BaselineHistory.objects.filter(run_id=run_id).aggregate(
        keys=Count("id"), events=Sum("events"), high_water_mark=Max("high_water_mark")
    )
    if earlier["keys"]:
        answer.update(keys_updated=earlier["keys"], events_folded=earlier["events"],
                      high_water_mark=_iso_or_none(earlier["high_water_mark"]), replayed=True)
    return {"result": "already_folded", **answer}


def _iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
