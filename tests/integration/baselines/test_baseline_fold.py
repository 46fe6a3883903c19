"""baseline_fold against the session's real chDB and the real Postgres test database."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tests.integration.baselines.baseline_support import T0_MS, Event, at
from django.db import DataError, connection, transaction

from config_app.models import BaselineFoldState, BaselineHistory, BaselineStats, MetricThreshold
from detection.baselines.fold import baseline_fold
from config_app.services.thresholds import DEMO_DEFAULT
from detection.core.moments import moments_of, sample_std
from driftsite.polling import wait_until

pytestmark = pytest.mark.django_db

MINUTE_MS = 60_000


def fold(until_ms: int, **kwargs):
    return baseline_fold(until=at(until_ms), safety_lag_seconds=kwargs.pop("lag", 0), **kwargs)


def stats() -> dict[tuple[str, str], tuple[int, float, float]]:
    return {(b.source_id, b.metric): (b.count, b.mean, b.std) for b in BaselineStats.objects.all()}


def expected(events: list[Event]) -> dict[tuple[str, str], tuple[int, float, float]]:
    """count, mean, sample std per key over the DISTINCT events (exact two-pass reference)."""
    distinct = {e.event_id: e for e in events}
    by_key: dict[tuple[str, str], list[float]] = {}
    for e in distinct.values():
        by_key.setdefault((e.source_id, e.metric), []).append(e.value)
    out = {}
    for key, values in by_key.items():
        count, mean, m2 = moments_of(values)
        out[key] = (count, mean, sample_std(count, m2))
    return out


def assert_stats_equal(actual, wanted):
    assert actual.keys() == wanted.keys()
    for key, (count, mean, std) in wanted.items():
        got_count, got_mean, got_std = actual[key]
        assert got_count == count, key
        assert got_mean == pytest.approx(mean, rel=1e-9, abs=1e-9), key
        assert got_std == pytest.approx(std, rel=1e-6, abs=1e-9), key


def make_events(rng, n: int, *, first_id: int, keys, offset: float = 1e9, t0_ms: int = T0_MS) -> list[Event]:
    out = []
    for i in range(n):
        source_id, metric = keys[int(rng.integers(len(keys)))]
        out.append(
            Event(
                event_id=first_id + i,
                source_id=source_id,
                metric=metric,
                value=float(offset + rng.normal(0.0, 1.0)),
                event_time_ms=t0_ms + int(rng.integers(0, 10 * MINUTE_MS)),
            )
        )
    return out


KEYS = [("host-1", "cpu"), ("host-1", "mem"), ("host-2", "cpu")]


def test_first_baseline_is_created_from_first_batch(raw_events):
    events = [Event(i, "host-1", "cpu", v, T0_MS + i) for i, v in enumerate([1.0, 2.0, 4.0])]
    raw_events.insert(events, ingest_ms=T0_MS + MINUTE_MS)

    result = fold(T0_MS + 2 * MINUTE_MS)

    row = BaselineStats.objects.get(source_id="host-1", metric="cpu")
    assert (row.count, row.mean, row.m2) == (3, pytest.approx(7 / 3), pytest.approx(14 / 3))
    assert (row.window_start, row.window_end) == (at(T0_MS), at(T0_MS + 2))
    assert row.high_water_mark == at(T0_MS + 2 * MINUTE_MS)
    assert (result.keys_updated, result.events_folded) == (1, 3)
    assert BaselineFoldState.objects.get().high_water_mark == at(T0_MS + 2 * MINUTE_MS)


def test_several_batches_equal_numpy_over_the_distinct_events(raw_events):
    rng = np.random.default_rng(7)
    everything: list[Event] = []
    for batch in range(5):
        events = make_events(rng, 400, first_id=batch * 1000, keys=KEYS)
        # some events arrive twice in the same batch, some again in the next batch
        events += events[:20]
        if everything:
            events += everything[-15:]
        raw_events.insert(events, ingest_ms=T0_MS + (batch + 1) * MINUTE_MS)
        everything += events
        fold(T0_MS + (batch + 1) * MINUTE_MS + 1)

    assert_stats_equal(stats(), expected(everything))
    # and against numpy, the brief's reference
    values = np.array([e.value for e in {e.event_id: e for e in everything}.values() if e.source_id == "host-2"])
    count, mean, std = stats()[("host-2", "cpu")]
    assert count == values.size
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert std == pytest.approx(values.std(ddof=1), rel=1e-6)


def test_large_offset_with_small_noise_keeps_its_precision(raw_events):
    rng = np.random.default_rng(11)
    events = [
        Event(i, "host-1", "cpu", float(1e9 + rng.normal(0.0, 1e-3)), T0_MS + i) for i in range(3000)
    ]
    for batch in range(3):
        raw_events.insert(events[batch * 1000:(batch + 1) * 1000], ingest_ms=T0_MS + (batch + 1) * MINUTE_MS)
        fold(T0_MS + (batch + 1) * MINUTE_MS)
    count, mean, std = stats()[("host-1", "cpu")]
    values = np.array([e.value for e in events])
    assert count == 3000
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    # noise 1e-3 on 1e9: an ulp of 1e9 (1.2e-7) is 1e-4 of the std; the fold must stay well inside
    assert std == pytest.approx(values.std(ddof=1), rel=1e-3)
    assert std == pytest.approx(1e-3, rel=0.1)


def test_same_interval_twice_gives_the_same_baselines(raw_events):
    rng = np.random.default_rng(3)
    raw_events.insert(make_events(rng, 300, first_id=0, keys=KEYS), ingest_ms=T0_MS + MINUTE_MS)
    first = fold(T0_MS + 2 * MINUTE_MS)
    before = stats()
    history = BaselineHistory.objects.count()

    again = fold(T0_MS + 2 * MINUTE_MS)
    older = fold(T0_MS + MINUTE_MS)

    assert stats() == before
    assert BaselineHistory.objects.count() == history == 3
    assert again.skipped and older.skipped
    assert (again.keys_updated, again.events_folded) == (0, 0)
    assert BaselineFoldState.objects.get().high_water_mark == first.high_water_mark


def test_duplicate_in_a_later_batch_with_newer_ingest_time_counts_once(raw_events):
    original = Event(1, "host-1", "cpu", 10.0, T0_MS + 5)
    raw_events.insert([original, Event(2, "host-1", "cpu", 20.0, T0_MS + 6)], ingest_ms=T0_MS + MINUTE_MS)
    fold(T0_MS + MINUTE_MS)

    raw_events.insert([original, Event(3, "host-1", "cpu", 30.0, T0_MS + 7)], ingest_ms=T0_MS + 2 * MINUTE_MS)
    result = fold(T0_MS + 2 * MINUTE_MS)

    assert result.events_folded == 1
    assert stats()[("host-1", "cpu")] == (3, 20.0, 10.0)


def test_duplicate_inside_one_slice_counts_once(raw_events):
    event = Event(1, "host-1", "cpu", 10.0, T0_MS)
    raw_events.insert([event, event], ingest_ms=T0_MS + 1000)
    raw_events.insert([event, Event(2, "host-1", "cpu", 14.0, T0_MS + 1)], ingest_ms=T0_MS + 2000)

    fold(T0_MS + MINUTE_MS)

    assert stats()[("host-1", "cpu")] == (2, 12.0, pytest.approx(2 ** 1.5))


def test_late_event_is_counted_once(raw_events):
    raw_events.insert([Event(i, "host-1", "cpu", float(i), T0_MS + 10 * MINUTE_MS + i) for i in range(4)],
                      ingest_ms=T0_MS + 11 * MINUTE_MS)
    fold(T0_MS + 11 * MINUTE_MS)

    late = Event(99, "host-1", "cpu", 100.0, T0_MS)  # event time long before the folded window
    raw_events.insert([late], ingest_ms=T0_MS + 12 * MINUTE_MS)
    fold(T0_MS + 12 * MINUTE_MS)
    raw_events.insert([late], ingest_ms=T0_MS + 13 * MINUTE_MS)  # and it arrives once more
    fold(T0_MS + 13 * MINUTE_MS)

    row = BaselineStats.objects.get()
    assert (row.count, row.mean) == (5, pytest.approx(106 / 5))
    assert row.window_start == at(T0_MS)
    assert row.window_end == at(T0_MS + 10 * MINUTE_MS + 3)


def test_backfill_over_several_intervals_equals_one_rebuild(raw_events):
    rng = np.random.default_rng(5)
    pool: list[Event] = []
    for batch in range(6):
        events = make_events(rng, 200, first_id=batch * 1000, keys=KEYS, t0_ms=T0_MS + batch * MINUTE_MS)
        events += pool[-10:]  # replays of older events
        raw_events.insert(events, ingest_ms=T0_MS + batch * MINUTE_MS + 30_000)
        pool += events
    for interval in range(1, 7):
        fold(T0_MS + interval * MINUTE_MS)
    backfilled = stats()

    result = fold(T0_MS + 6 * MINUTE_MS, rebuild=True)

    assert result.rebuilt and result.events_folded == len({e.event_id for e in pool})
    assert_stats_equal(stats(), {k: (c, m, s) for k, (c, m, s) in backfilled.items()})
    assert_stats_equal(stats(), expected(pool))


def test_rebuild_replaces_the_stored_stats_atomically(raw_events):
    BaselineStats.objects.create(source_id="gone", metric="cpu", count=5, mean=1.0, m2=1.0)
    BaselineStats.objects.create(source_id="host-1", metric="cpu", count=1000, mean=-50.0, m2=7.0)
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS), Event(2, "host-1", "cpu", 3.0, T0_MS + 1)],
                      ingest_ms=T0_MS + 1000)

    result = fold(T0_MS + MINUTE_MS, rebuild=True)

    assert stats() == {("host-1", "cpu"): (2, 2.0, pytest.approx(2 ** 0.5))}
    assert result.keys_removed == 1
    assert BaselineHistory.objects.get().kind == BaselineHistory.Kind.REBUILD


def test_existing_baseline_keeps_its_weight(raw_events):
    # a stored history of 3 values {1, 2, 3} (mean 2, m2 2): the fold adds {10, 20}
    BaselineStats.objects.create(source_id="host-1", metric="cpu", count=3, mean=2.0, m2=2.0)
    raw_events.insert([Event(1, "host-1", "cpu", 10.0, T0_MS), Event(2, "host-1", "cpu", 20.0, T0_MS + 1)],
                      ingest_ms=T0_MS + 1000)
    fold(T0_MS + MINUTE_MS)
    count, mean, m2 = moments_of([1.0, 2.0, 3.0, 10.0, 20.0])
    row = BaselineStats.objects.get()
    assert (row.count, row.mean, row.m2) == (count, pytest.approx(mean), pytest.approx(m2))


def test_safety_lag_leaves_recent_rows_for_the_next_fold(raw_events):
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS)], ingest_ms=T0_MS + 1000)
    raw_events.insert([Event(2, "host-1", "cpu", 3.0, T0_MS)], ingest_ms=T0_MS + 58_000)

    first = fold(T0_MS + MINUTE_MS, lag=5)  # folds ingest times <= T0 + 55 s
    assert first.high_water_mark == at(T0_MS + 55_000)
    assert stats()[("host-1", "cpu")][0] == 1

    fold(T0_MS + 2 * MINUTE_MS, lag=5)
    assert stats()[("host-1", "cpu")][:2] == (2, 2.0)


def test_history_has_one_row_per_update_per_key(raw_events, admin_client):
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS), Event(2, "host-2", "cpu", 5.0, T0_MS)],
                      ingest_ms=T0_MS + 1000)
    fold(T0_MS + MINUTE_MS)
    raw_events.insert([Event(3, "host-1", "cpu", 3.0, T0_MS)], ingest_ms=T0_MS + MINUTE_MS + 1000)
    fold(T0_MS + 2 * MINUTE_MS)

    rows = list(BaselineHistory.objects.filter(baseline__source_id="host-1").order_by("high_water_mark"))
    assert [(h.events, h.count, h.mean) for h in rows] == [(1, 1, 1.0), (1, 2, 2.0)]
    assert [h.high_water_mark for h in rows] == [at(T0_MS + MINUTE_MS), at(T0_MS + 2 * MINUTE_MS)]
    assert BaselineHistory.objects.filter(baseline__source_id="host-2").count() == 1


def test_events_inside_drifting_intervals_are_left_out_only_when_enabled(raw_events, drift_events):
    # host-1/cpu drifts from T0+10s to T0+20s, and again from T0+40s on (still open)
    drift_events([
        (1, "host-1", "cpu", "DRIFT_START", T0_MS + 10_000),
        (2, "host-1", "cpu", "DRIFT_END", T0_MS + 20_000),
        (2, "host-1", "cpu", "DRIFT_END", T0_MS + 20_000),  # a replayed transition
        (3, "host-1", "cpu", "DRIFT_START", T0_MS + 40_000),
    ])
    values = {5_000: 1.0, 10_000: 100.0, 15_000: 100.0, 20_000: 2.0, 30_000: 3.0, 45_000: 100.0}
    events = [Event(i, "host-1", "cpu", v, T0_MS + t) for i, (t, v) in enumerate(values.items())]
    events += [Event(100 + i, "host-2", "cpu", v, T0_MS + t) for i, (t, v) in enumerate(values.items())]
    raw_events.insert(events, ingest_ms=T0_MS + MINUTE_MS)
    MetricThreshold.objects.create(metric="cpu", **DEMO_DEFAULT, baseline_excludes_drifting=True)
    MetricThreshold.objects.create(source_id="host-2", metric="cpu", **DEMO_DEFAULT)  # more specific: off

    fold(T0_MS + MINUTE_MS)

    assert stats()[("host-1", "cpu")][:2] == (3, 2.0)  # 1, 2, 3: the drifting 100s are out
    assert stats()[("host-2", "cpu")][0] == 6  # no drift_events, and its own row keeps everything


def test_drifting_intervals_are_kept_by_default(raw_events, drift_events):
    drift_events([(1, "host-1", "cpu", "DRIFT_START", T0_MS)])
    raw_events.insert([Event(1, "host-1", "cpu", 5.0, T0_MS + 1)], ingest_ms=T0_MS + 1000)
    MetricThreshold.objects.create(metric="cpu", **DEMO_DEFAULT)
    fold(T0_MS + MINUTE_MS)
    assert stats()[("host-1", "cpu")][0] == 1


def test_until_must_be_timezone_aware(raw_events):
    from datetime import datetime

    with pytest.raises(ValueError, match="aware"):
        baseline_fold(until=datetime(2024, 1, 1))


def test_duplicate_merged_away_before_next_fold(raw_events):
    """raw_events keeps the EARLIEST copy on merge (first_copy_rank), so the copy an earlier
    fold counted survives and the guard still recognises the later duplicate."""
    original = Event(1, "host-1", "cpu", 10.0, T0_MS)
    raw_events.insert([original], ingest_ms=T0_MS + 1000)
    fold(T0_MS + MINUTE_MS)
    raw_events.insert([original], ingest_ms=T0_MS + MINUTE_MS + 1000)
    raw_events.merge_all_copies()  # background merging may do this at any time

    fold(T0_MS + 2 * MINUTE_MS)

    assert stats()[("host-1", "cpu")][0] == 1


def test_a_failed_fold_writes_nothing(raw_events):
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS)], ingest_ms=T0_MS + 1000)
    fold(T0_MS + MINUTE_MS)
    before, state = stats(), BaselineFoldState.objects.get().high_water_mark
    # host-1 sorts first and would be merged, but a 300-character source_id cannot be stored
    raw_events.insert([Event(2, "host-1", "cpu", 5.0, T0_MS), Event(3, "x" * 300, "cpu", 1.0, T0_MS)],
                      ingest_ms=T0_MS + MINUTE_MS + 1000)

    with pytest.raises(DataError):
        fold(T0_MS + 2 * MINUTE_MS)

    assert stats() == before
    assert BaselineFoldState.objects.get().high_water_mark == state
    assert BaselineHistory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_queue_on_the_lock_and_count_once(raw_events):
    raw_events.insert([Event(i, "host-1", "cpu", float(i), T0_MS + i) for i in range(3)], ingest_ms=T0_MS + 1000)
    BaselineFoldState.objects.create(id=1)
    results, errors = [], []

    def run():
        try:
            results.append(fold(T0_MS + MINUTE_MS))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    with transaction.atomic():
        BaselineFoldState.objects.select_for_update().get(id=1)  # a run in progress holds the lock
        for thread in runs:
            thread.start()
        wait_until(lambda: lock_waiters() == 2, timeout=30, what="both runs waiting on the fold lock")
    for thread in runs:
        thread.join(timeout=60)

    assert not errors
    assert sorted(r.events_folded for r in results) == [0, 3]
    assert stats()[("host-1", "cpu")][:2] == (3, 1.0)
    assert BaselineHistory.objects.count() == 1


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def numpy_lag1(values: np.ndarray) -> float:
    d = values - values.mean()
    return float(np.dot(d[:-1], d[1:]) / np.dot(d, d))


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_autocorrelation_over_several_folds_equals_numpy_in_event_time_order(raw_events, offset):
    """An AR(1) series (rho 0.6) per key, folded in 4 slices. Inside each slice events arrive
    shuffled (out of event-time order) and some twice, some again in the next slice; the
    slices follow each other in event time. The stored lag-1 autocorrelation equals numpy's
    over the distinct values sorted by event time."""
    rng = np.random.default_rng(21)
    n = 1200
    series = {}
    for key in KEYS[:2]:
        x = np.empty(n)
        x[0] = 0.0
        for i in range(1, n):
            x[i] = 0.6 * x[i - 1] + rng.normal()
        series[key] = x + offset
    bounds = [0, 250, 251, 700, n]
    everything: list[Event] = []
    for batch, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        events = [
            Event(event_id=k * 10_000 + i, source_id=key[0], metric=key[1], value=float(series[key][i]),
                  event_time_ms=T0_MS + 1_000 * i)
            for k, key in enumerate(series) for i in range(lo, hi)
        ]
        events += events[: len(events) // 8]
        if everything:
            events += everything[-10:]  # copies of events of the previous slice: counted once
        rng.shuffle(events)
        ingest = T0_MS + 3_600_000 + (batch + 1) * MINUTE_MS
        raw_events.insert(events, ingest_ms=ingest)
        everything += events
        fold(ingest + 1)
    for key, x in series.items():
        row = BaselineStats.objects.get(source_id=key[0], metric=key[1])
        assert row.count == n and row.lag_count == n
        assert row.autocorrelation == pytest.approx(numpy_lag1(x - offset), abs=1e-9)
    history = BaselineHistory.objects.filter(baseline__source_id=KEYS[0][0], baseline__metric=KEYS[0][1])
    assert history.count() == 4 and all(h.autocorrelation is not None for h in history)
