"""The cusum method: recursion against a plain reference, threshold derivation, snapshots."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.detection.core.exact_reference import PROPERTY

from detection.core.autocorrelation import LagOneState, lag_one_autocorrelation
from detection.core.config import Baseline, Thresholds
from detection.core.cusum import CusumReference, cusum_params, effective_autocorrelation, siegmund_arl0
from detection.core.detector import KeyedDetector
from detection.core.events import make_event
from detection.core.scores import resolve_baseline
from detection.core.snapshot import MAGIC_V1, restore, snapshot
from detection.core.state import DRIFT_END, DRIFT_START, DriftState

T0 = 1_704_067_200_000


def cusum_thresholds(**changes) -> Thresholds:
    values = dict(
        window_seconds=5, min_samples=3, z_threshold=3.0, std_ratio_threshold=2.0, enter_hits=1,
        exit_hits=2, allowed_lateness_seconds=0, method="cusum", target_false_alarms_per_100k=500.0, version=3,
    )
    values.update(changes)
    return Thresholds(**values)


def params_for(th: Thresholds, baseline: Baseline):
    rho = effective_autocorrelation(baseline.autocorrelation, baseline.count)
    return cusum_params(
        target_false_alarms_per_100k=th.target_false_alarms_per_100k, mean_shift_sigma=th.mean_shift_sigma,
        std_up_ratio=th.std_up_ratio, std_down_ratio=th.std_down_ratio, autocorrelation=rho,
    )


class ReferenceKey:
    """Window count by brute force, CUSUMs by CusumReference, the N/M rule written out."""

    def __init__(self, th: Thresholds, baseline: Baseline) -> None:
        self.th = th
        self.resolved = resolve_baseline(baseline)
        self.cusum = CusumReference(params_for(th, baseline))
        self.times: list[int] = []
        self.state = DriftState.INITIALIZING
        self.hits = 0

    def update(self, t: int, x: float) -> str | None:
        self.times = [s for s in self.times if s > t - self.th.window_ms] + [t]
        if len(self.times) < self.th.min_samples:
            return None
        u = (x - self.resolved.mean) * (1.0 / self.resolved.std)  # as the detector computes it
        violation = self.cusum.update(u, self.state is DriftState.DRIFTING)
        if self.state is DriftState.INITIALIZING:
            self.state = DriftState.NORMAL
        if self.state is DriftState.NORMAL:
            self.hits = self.hits + 1 if violation else 0
            if self.hits >= self.th.enter_hits:
                self.state, self.hits = DriftState.DRIFTING, 0
                return DRIFT_START
            return None
        self.hits = 0 if violation else self.hits + 1
        if self.hits >= self.th.exit_hits:
            self.state, self.hits = DriftState.NORMAL, 0
            self.cusum.reset()
            return DRIFT_END
        return None


@st.composite
def streams(draw):
    th = cusum_thresholds(
        min_samples=draw(st.integers(2, 4)), enter_hits=draw(st.integers(1, 3)), exit_hits=draw(st.integers(1, 4)),
        target_false_alarms_per_100k=draw(st.sampled_from([0.5, 50.0, 1000.0])),
        mean_shift_sigma=draw(st.sampled_from([0.5, 1.0, 2.0])),
        std_up_ratio=draw(st.sampled_from([1.5, 2.0])), std_down_ratio=draw(st.sampled_from([0.5, 0.8])),
    )
    baseline = Baseline(
        mean=draw(st.sampled_from([0.0, 1e9])), std=draw(st.sampled_from([1.0, 0.25])), count=1000,
        autocorrelation=draw(st.sampled_from([None, 0.0, 0.5, 0.99, -0.3])),
    )
    levels = draw(st.lists(st.sampled_from([0.0, 0.0, 1.5, 4.0, -3.0]), min_size=1, max_size=5))
    spreads = draw(st.lists(st.sampled_from([1.0, 1.0, 3.0, 0.1]), min_size=1, max_size=5))
    noise = draw(st.lists(st.floats(-2.5, 2.5, allow_nan=False), min_size=10, max_size=300))
    gaps = draw(st.lists(st.integers(1, 3_000), min_size=len(noise), max_size=len(noise)))
    values = []
    for i, z in enumerate(noise):
        level = levels[i * len(levels) // len(noise)]
        spread = spreads[i * len(spreads) // len(noise)]
        values.append(baseline.mean + baseline.std * (level + spread * z))
    return th, baseline, values, gaps


@PROPERTY
@given(streams())
def test_detector_cusum_matches_the_plain_reference(stream):
    th, baseline, values, gaps = stream
    detector = KeyedDetector(lambda s, m: th, lambda s, m: baseline)
    reference = ReferenceKey(th, baseline)
    t = T0
    for x, gap in zip(values, gaps):
        t += gap
        outcome = detector.update(make_event("s", "m", x, t))
        expected = reference.update(t, x)
        got = outcome.transition.event_type if outcome.transition else None
        assert got == expected
        status = detector.status("s", "m")
        assert status.state is (reference.state if reference.state is not DriftState.INITIALIZING else status.state)
        assert status.cusum_statistics == tuple(reference.cusum.stats)
        if outcome.transition:
            assert outcome.transition.method == "cusum"
            assert outcome.transition.cusum_thresholds == tuple(reference.cusum.params.thresholds)


def test_cusum_detects_a_shift_once_and_ends_after_it():
    th = cusum_thresholds(target_false_alarms_per_100k=0.5, exit_hits=3)
    baseline = Baseline(10.0, 2.0, 5000)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: baseline)
    rng = random.Random(3)
    transitions = []
    for i in range(3000):
        level = 10.0 + (6.0 if 1000 <= i < 2000 else 0.0)  # +3 sigma for 1,000 samples
        out = detector.update(make_event("s", "m", rng.gauss(level, 2.0), T0 + 1000 * i))
        if out.transition:
            transitions.append((i, out.transition))
    assert [(tr.event_type) for _, tr in transitions] == [DRIFT_START, DRIFT_END]
    start, end = transitions[0][0], transitions[1][0]
    assert 1000 <= start <= 1010 and 2000 <= end <= 2040
    tr = transitions[0][1]
    assert tr.method == "cusum" and tr.statistic_name in ("mean_up", "std_up")
    assert tr.statistic > tr.threshold
    # Reset at DRIFT_END.
    assert transitions[1][1].cusum_statistics is not None
    assert detector.status("s", "m").state is DriftState.NORMAL


def test_a_constant_key_with_a_constant_baseline_is_normal():
    th = cusum_thresholds(target_false_alarms_per_100k=0.5)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(5.0, 0.0, 100))
    for i in range(500):
        assert detector.update(make_event("s", "m", 5.0, T0 + 1000 * i)).transition is None
    assert detector.update(make_event("s", "m", 5.1, T0 + 1000 * 500)).transition.event_type == DRIFT_START


def test_threshold_derivation_meets_a_high_target_rate():
    """At 200 alarms per 100k evaluations, iid baseline-matching data alarm at about that rate
    (the 0.5 per 100k calibration is the benchmark's: it needs millions of samples)."""
    target = 200.0
    th = cusum_thresholds(target_false_alarms_per_100k=target, enter_hits=1, exit_hits=1, min_samples=2)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 10**6))
    rng = np.random.default_rng(11)
    n = 150_000
    for i, x in enumerate(rng.standard_normal(n).tolist()):
        detector.update(make_event("s", "m", x, T0 + 1000 * i))
    rate = detector.counters["drift_start"] * 100_000 / n
    assert 0.65 * target < rate < 1.35 * target


def test_siegmund_and_thresholds_move_the_right_way():
    assert siegmund_arl0(10.0, 1.0) > siegmund_arl0(5.0, 1.0)
    low = cusum_params(target_false_alarms_per_100k=0.5, mean_shift_sigma=1.0, std_up_ratio=2.0,
                       std_down_ratio=0.5, autocorrelation=0.0)
    high = cusum_params(target_false_alarms_per_100k=50.0, mean_shift_sigma=1.0, std_up_ratio=2.0,
                        std_down_ratio=0.5, autocorrelation=0.0)
    assert all(a > b for a, b in zip(low.thresholds, high.thresholds))
    correlated = cusum_params(target_false_alarms_per_100k=0.5, mean_shift_sigma=1.0, std_up_ratio=2.0,
                              std_down_ratio=0.5, autocorrelation=0.6)
    assert correlated.mean_a < low.mean_a  # the mean statistics move slower on correlated data
    assert effective_autocorrelation(-0.4) == 0.0
    assert effective_autocorrelation(0.03, 10_000) == pytest.approx(0.01)
    assert effective_autocorrelation(None) == 0.0 and effective_autocorrelation(0.999) == 0.3


def test_thresholds_validate_the_cusum_fields():
    with pytest.raises(ValueError, match="method must be one of zscore, cusum"):
        cusum_thresholds(method="ewma")
    for name, bad in [("target_false_alarms_per_100k", 0), ("mean_shift_sigma", -1.0), ("std_up_ratio", 1.0),
                      ("std_down_ratio", 1.0), ("std_down_ratio", 0.0), ("target_false_alarms_per_100k", math.nan)]:
        with pytest.raises(ValueError, match=name):
            cusum_thresholds(**{name: bad})


def feed(detector, values, start=0):
    out = []
    for i, x in enumerate(values, start):
        tr = detector.update(make_event("s", "m", x, T0 + 1000 * i)).transition
        if tr:
            out.append(tr)
    return out


def test_snapshot_round_trip_keeps_the_cusum_statistics():
    th = cusum_thresholds(target_false_alarms_per_100k=5.0)
    resolvers = (lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 1000, 0.2))
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(3000) + np.r_[np.zeros(1500), np.full(1500, 0.7)]).tolist()
    a = KeyedDetector(*resolvers)
    feed(a, values[:1600])
    b = KeyedDetector(*resolvers)
    restore(b, snapshot(a))
    sa, sb = a.status("s", "m"), b.status("s", "m")
    # The restored window's sums are recomputed exactly, so rolling figures may differ in the
    # last bits; the cusum statistics and the state are carried as they are.
    assert sb._replace(rolling_mean=0, rolling_std=0, z_score=0, std_ratio=0) == sa._replace(
        rolling_mean=0, rolling_std=0, z_score=0, std_ratio=0
    )
    assert sb.rolling_mean == pytest.approx(sa.rolling_mean, rel=1e-12)
    assert sa.cusum_statistics != (0.0, 0.0, 0.0, 0.0)

    def decisions(transitions):
        return [(tr.drift_event_id, tr.event_type, tr.cusum_statistics) for tr in transitions]

    after_a = decisions(feed(a, values[1600:], 1600))
    assert after_a and decisions(feed(b, values[1600:], 1600)) == after_a


def test_a_version_1_snapshot_still_restores():
    th = Thresholds(window_seconds=10, min_samples=3, z_threshold=2, std_ratio_threshold=3,
                    enter_hits=2, exit_hits=2, allowed_lateness_seconds=1)
    resolvers = (lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 100))
    a = KeyedDetector(*resolvers)
    feed(a, [5.0 if i > 10 else 0.0 for i in range(20)])
    blob = snapshot(a)
    head_len = int.from_bytes(blob[4:8], "little")
    header = orjson.loads(blob[8 : 8 + head_len])
    old_header = orjson.dumps([entry[:9] for entry in header])
    old = MAGIC_V1 + len(old_header).to_bytes(4, "little") + old_header + blob[8 + head_len :]
    b = KeyedDetector(*resolvers)
    assert restore(b, old) == 1
    assert b.status("s", "m") == a.status("s", "m")


# --- lag-1 autocorrelation ---------------------------------------------------------------------
def numpy_lag1(x: np.ndarray) -> float:
    d = x - x.mean()
    return float(np.dot(d[:-1], d[1:]) / np.dot(d, d))


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_lag_one_over_several_folds_equals_numpy(offset):
    rng = np.random.default_rng(8)
    n = 5000
    x = np.empty(n)
    x[0] = 0.0
    for i in range(1, n):  # AR(1), rho 0.7
        x[i] = 0.7 * x[i - 1] + rng.standard_normal()
    x += offset
    times = np.arange(n) * 1000
    # Events arrive shuffled inside each fold, some twice; each fold is later in event time than
    # the previous one. The fold deduplicates and sorts its batch, as the ClickHouse side does.
    bounds = [0, 700, 701, 2500, 4100, n]
    state = LagOneState.empty()
    for lo, hi in zip(bounds, bounds[1:]):
        batch = [(int(times[i]), float(x[i])) for i in range(lo, hi)]
        batch += batch[: len(batch) // 10]  # duplicates
        rng.shuffle(batch)
        ordered = [v for _, v in sorted(set(batch))]
        state = state.extend(ordered)
    assert state.count == n
    assert state.value() == pytest.approx(numpy_lag1(x - offset), abs=1e-9)
    assert lag_one_autocorrelation(x.tolist()) == pytest.approx(numpy_lag1(x - offset), abs=1e-9)


def test_lag_one_degenerate_inputs():
    assert LagOneState.empty().value() is None
    assert lag_one_autocorrelation([1.0, 2.0]) is None
    assert lag_one_autocorrelation([3.0, 3.0, 3.0, 3.0]) is None
