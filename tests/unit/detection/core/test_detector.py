"""KeyedDetector: model-based against a brute-force reference, then behaviour by behaviour."""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction

import numpy as np
import pytest
from tests.unit.detection.core.exact_reference import PROPERTY, assert_mean_close, assert_std_close, exact_mean_std
from hypothesis import assume, given
from hypothesis import event as tally
from hypothesis import strategies as st

from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector, KeyStatus, OutcomeKind, Transition, drift_event_id_for
from detection.core.events import Event, InvalidEvent, encode_event, make_event, parse_event
from detection.core.scores import resolve_baseline
from detection.core.state import DriftState, Hysteresis

T0 = 1_704_067_200_000


def thresholds(**changes) -> Thresholds:
    values = dict(
        window_seconds=10, min_samples=3, z_threshold=3.0, std_ratio_threshold=3.0,
        enter_hits=2, exit_hits=2, allowed_lateness_seconds=2, version=1,
    )
    values.update(changes)
    return Thresholds(**values)


def detector_with(th: Thresholds, baseline: Baseline | None = Baseline(0.0, 1.0, 1000)) -> KeyedDetector:
    return KeyedDetector(lambda s, m: th, lambda s, m: baseline)


# --- the brute-force reference ---------------------------------------------------------------
class ReferenceKey:
    def __init__(self, th: Thresholds, baseline: Baseline | None) -> None:
        self.th = th
        self.baseline = resolve_baseline(baseline)
        self.items: list[tuple[int, float, int]] = []
        self.newest: int | None = None
        self.machine = Hysteresis(th.enter_hits, th.exit_hits)
        self.state_since: int | None = None


class ReferenceDetector:
    """The module docstring's rules, written the slow and obvious way."""

    def __init__(self, th: Thresholds, baseline: Baseline | None) -> None:
        self.th, self.baseline = th, baseline
        self.keys: dict[tuple[str, str], ReferenceKey] = {}

    def update(self, e: Event):
        key = self.keys.setdefault((e.source_id, e.metric), ReferenceKey(self.th, self.baseline))
        th = self.th
        if key.newest is not None and e.event_time_ms <= key.newest:
            if e.event_time_ms < key.newest - th.allowed_lateness_ms or e.event_time_ms <= key.newest - th.window_ms:
                return "LATE", None, None
            if e.event_id in {eid for _, _, eid in key.items}:
                return "DUPLICATE", None, None
        if key.state_since is None:
            key.state_since = e.event_time_ms
        times = [t for t, _, _ in key.items]
        key.items.insert(bisect_right(times, e.event_time_ms), (e.event_time_ms, e.value, e.event_id))
        key.newest = e.event_time_ms if key.newest is None else max(key.newest, e.event_time_ms)
        key.items = [item for item in key.items if item[0] > key.newest - th.window_ms]
        values = [x for _, x, _ in key.items]
        if len(values) < th.min_samples or key.baseline is None:
            return "ACCEPTED", None, None
        exact = [Fraction(x) for x in values]
        mean = sum(exact) / len(exact)
        var = sum((x - mean) ** 2 for x in exact) / (len(exact) - 1)
        bm, bs = Fraction(key.baseline.mean), Fraction(key.baseline.std)
        z = abs(mean - bm) / bs
        ratio_sq = var / (bs * bs)
        rt = Fraction(th.std_ratio_threshold)
        # An evaluation within float resolution of a threshold could go either way: the rolling
        # mean is a double (a few ulps of the values), the std is kept to 1e-6.
        z_margin = Fraction(th.z_threshold) * Fraction(1, 10**6) + Fraction(z_resolution(values, key.baseline.std))
        assume(abs(z - Fraction(th.z_threshold)) > z_margin)
        near = [abs(ratio_sq / (rt * rt) - 1)]
        if not key.baseline.std_floored:
            near.append(abs(ratio_sq * rt * rt - 1))
        assume(min(near) > Fraction(1, 10**5))
        violation = z > th.z_threshold or ratio_sq > rt * rt or (not key.baseline.std_floored and ratio_sq * rt * rt < 1)
        before = key.machine.state
        event_type = key.machine.update(violation)
        if key.machine.state is not before:
            key.state_since = e.event_time_ms
        return "ACCEPTED", event_type, (len(values), float(z), float(ratio_sq) ** 0.5)


def z_resolution(values, baseline_std: float) -> float:
    """How far a z-score can move when the rolling mean is off by a few ulps of the values."""
    return 8 * math.ulp(max(abs(x) for x in values)) / baseline_std


@st.composite
def scenarios(draw):
    window_ms = draw(st.integers(1, 20))
    lateness_ms = draw(st.integers(0, 25))
    th = Thresholds(
        window_seconds=window_ms / 1000, min_samples=draw(st.integers(2, 5)),
        z_threshold=2.7182818, std_ratio_threshold=1.7320508,
        enter_hits=draw(st.integers(1, 3)), exit_hits=draw(st.integers(1, 3)),
        allowed_lateness_seconds=lateness_ms / 1000, version=draw(st.integers(0, 9)),
    )
    family = draw(st.sampled_from(["small", "near_1e9", "zero_std_baseline"]))
    if family == "small":
        baseline, value, unit = Baseline(0.5, 1.2345, 100), st.integers(-3, 3).map(float), 1.0
    elif family == "near_1e9":
        baseline, value, unit = Baseline(1e9, 1.2345e-3, 100), st.integers(-3, 3).map(lambda k: 1e9 + k * 1e-3), 1e-3
    else:
        baseline, value, unit = Baseline(2.0, 0.0, 100), st.sampled_from([2.0, 2.0, 2.0, 3.0]), 0.0
    keys = st.sampled_from([("a", "x"), ("b", "x")])
    deltas = st.one_of(st.integers(0, 2), st.integers(-window_ms - lateness_ms - 2, window_ms + 2))
    raw = draw(st.lists(st.tuples(keys, deltas, value, st.integers(0, 9)), min_size=20, max_size=150))
    # Regimes: the stream is cut into phases whose level is shifted by 0 or 6 units, so that
    # drift starts and ends happen (a plain random walk of small values rarely crosses z).
    levels = draw(st.lists(st.sampled_from([0.0, 6.0]), min_size=1, max_size=6))
    ops = [
        (key, delta, x + unit * levels[i * len(levels) // len(raw)], resend)
        for i, (key, delta, x, resend) in enumerate(raw)
    ]
    return th, baseline, ops


@PROPERTY
@given(scenarios())
def test_detector_matches_the_brute_force_reference(scenario):
    th, baseline, ops = scenario
    detector = detector_with(th, baseline)
    reference = ReferenceDetector(th, baseline)
    sent: list[Event] = []
    newest: dict[tuple[str, str], int] = {}
    for key, delta, value, resend in ops:
        if resend == 0 and sent:
            event = sent[delta % len(sent)]  # an exact copy of an earlier event
        else:
            t = newest.get(key, T0) + delta
            event = make_event(key[0], key[1], value, t)
            newest[key] = max(newest.get(key, t), t)
        sent.append(event)
        kind, event_type, evaluation = reference.update(event)
        outcome = detector.update(event)
        assert outcome.kind == kind
        assert (outcome.transition.event_type if outcome.transition else None) == event_type
        ref_key = reference.keys[(event.source_id, event.metric)]
        values = [x for _, x, _ in ref_key.items]
        if outcome.transition is not None:
            tr = outcome.transition
            count, z, ratio = evaluation
            assert tr.drift_event_id == drift_event_id_for(event.source_id, event.metric, event_type, event.event_id)
            assert (tr.trigger_event_id, tr.event_time_ms, tr.config_version) == (event.event_id, event.event_time_ms, th.version)
            assert tr.rolling_count == count
            ref_mean, ref_std = exact_mean_std(values)
            assert_mean_close(tr.rolling_mean, ref_mean, values)
            assert_std_close(tr.rolling_std, ref_std)
            assert tr.z_score == pytest.approx(z, rel=1e-6, abs=z_resolution(values, tr.baseline_std))
            assert tr.std_ratio == pytest.approx(ratio, rel=1e-6, abs=1e-12)
        status = detector.status(event.source_id, event.metric)
        assert status.state is ref_key.machine.state
        assert status.state_since_ms == ref_key.state_since
        assert status.last_event_time_ms == ref_key.newest
        assert status.rolling_count == len(values)
        ref_mean, ref_std = exact_mean_std(values)
        assert_mean_close(status.rolling_mean, ref_mean, values)
        assert_std_close(status.rolling_std, ref_std)
        if kind == "ACCEPTED":
            assert (status.z_score is not None) == (evaluation is not None)
    counters = detector.counters
    assert counters["accepted"] + counters["late"] + counters["duplicate"] == len(ops)
    for name in ("late", "duplicate", "transitions"):
        tally(f"{name}: {'some' if counters[name] else 'none'}")


# --- behaviours ------------------------------------------------------------------------------
def test_late_event_is_counted_not_scored():
    detector = detector_with(thresholds())
    for i in range(5):
        detector.update(make_event("s", "m", 0.1 * i, T0 + 1_000 * i))
    before = detector.status("s", "m")
    outcome = detector.update(make_event("s", "m", 99.0, T0 + 1_000 * 4 - 2_001))
    assert outcome == (OutcomeKind.LATE, None)
    assert detector.status("s", "m") == before
    assert detector.counters["late"] == 1


def test_event_exactly_at_the_watermark_is_accepted():
    detector = detector_with(thresholds())
    detector.update(make_event("s", "m", 1.0, T0 + 10_000))
    assert detector.update(make_event("s", "m", 2.0, T0 + 8_000)).kind is OutcomeKind.ACCEPTED
    assert detector.update(make_event("s", "m", 2.0, T0 + 7_999)).kind is OutcomeKind.LATE


def test_event_outside_the_window_is_late_even_within_a_longer_lateness():
    detector = detector_with(thresholds(window_seconds=5, allowed_lateness_seconds=60))
    detector.update(make_event("s", "m", 1.0, T0 + 10_000))
    assert detector.update(make_event("s", "m", 2.0, T0 + 5_000)).kind is OutcomeKind.LATE
    assert detector.update(make_event("s", "m", 2.0, T0 + 5_001)).kind is OutcomeKind.ACCEPTED


def test_duplicate_is_ignored_in_order_or_not_and_an_expired_copy_is_late():
    detector = detector_with(thresholds())
    events = [make_event("s", "m", float(i), T0 + 1_000 * i) for i in range(4)]
    for event in events:
        detector.update(event)
    status = detector.status("s", "m")
    assert detector.update(events[-1]).kind is OutcomeKind.DUPLICATE
    assert detector.update(events[-2]).kind is OutcomeKind.DUPLICATE
    assert detector.status("s", "m") == status
    detector.update(make_event("s", "m", 0.0, T0 + 20_000))
    assert detector.update(events[-1]).kind is OutcomeKind.LATE
    assert detector.counters["duplicate"] == 2


def test_same_time_different_value_is_not_a_duplicate():
    detector = detector_with(thresholds())
    assert detector.update(make_event("s", "m", 1.0, T0)).kind is OutcomeKind.ACCEPTED
    assert detector.update(make_event("s", "m", 2.0, T0)).kind is OutcomeKind.ACCEPTED
    assert detector.update(make_event("s", "m", 1.0, T0)).kind is OutcomeKind.DUPLICATE
    assert detector.status("s", "m").rolling_count == 2


def test_out_of_order_event_inside_lateness_is_placed_by_event_time():
    detector = detector_with(thresholds(window_seconds=10, allowed_lateness_seconds=5))
    detector.update(make_event("s", "m", 1.0, T0))
    detector.update(make_event("s", "m", 2.0, T0 + 5_000))
    assert detector.update(make_event("s", "m", 3.0, T0 + 1_000)).kind is OutcomeKind.ACCEPTED
    # Newest 11 s: (1 s, 11 s] keeps only 5 s and 11 s; an appended 1 s would have survived.
    detector.update(make_event("s", "m", 4.0, T0 + 11_000))
    status = detector.status("s", "m")
    assert (status.rolling_count, status.rolling_mean) == (2, 3.0)


def test_future_event_rejected_at_parse_does_not_move_the_watermark():
    detector = detector_with(thresholds())
    now_ms = T0 + 60_000
    accepted = []
    for raw in (
        encode_event("s", "m", 1.0, T0 + 50_000),
        encode_event("s", "m", 5.0, T0 + 10 * 86_400_000),  # ten days ahead of the clock
        encode_event("s", "m", 2.0, T0 + 51_000),
    ):
        try:
            event = parse_event(raw, now_ms=now_ms, max_future_skew_ms=5_000)
        except InvalidEvent as exc:
            assert exc.reason == "future_event_time"
            continue
        accepted.append(detector.update(event).kind)
    assert accepted == [OutcomeKind.ACCEPTED, OutcomeKind.ACCEPTED]
    assert detector.status("s", "m").last_event_time_ms == T0 + 51_000


def test_key_stays_initializing_until_min_samples_and_a_baseline_exist():
    th = thresholds(min_samples=3)
    baselines: dict = {}
    detector = KeyedDetector(lambda s, m: th, lambda s, m: baselines.get((s, m)))
    for i in range(10):
        detector.update(make_event("s", "m", 50.0 + i, T0 + 100 * i))
    status = detector.status("s", "m")
    assert status.state is DriftState.INITIALIZING and status.z_score is None
    assert status.baseline_mean is None and status.baseline_std is None
    baselines[("s", "m")] = Baseline(0.0, 1.0, 100)
    detector.reconfigure(lambda s, m: th, lambda s, m: baselines.get((s, m)))
    detector.update(make_event("s", "m", 60.0, T0 + 1_000))
    status = detector.status("s", "m")
    assert status.state is DriftState.NORMAL and status.state_since_ms == T0 + 1_000
    assert status.z_score > 3  # violating from the first evaluation: hit 1 of 2 counted
    outcome = detector.update(make_event("s", "m", 61.0, T0 + 1_100))
    assert outcome.transition.event_type == "DRIFT_START"


def test_min_samples_counts_the_window_not_the_history():
    detector = detector_with(thresholds(window_seconds=1, min_samples=3))
    for i in range(6):
        detector.update(make_event("s", "m", 0.0, T0 + 2_000 * i))  # one event per window
    assert detector.status("s", "m").state is DriftState.INITIALIZING


def test_transition_carries_the_stats_of_the_triggering_evaluation():
    th = thresholds(window_seconds=4, min_samples=3, enter_hits=2, exit_hits=2)
    detector = detector_with(th, Baseline(10.0, 2.0, 500))
    values = [10.0, 11.0, 9.0, 10.5, 30.0, 31.0, 29.0, 30.0]
    transitions = []
    for i, x in enumerate(values):
        event = make_event("s", "m", x, T0 + 1_000 * i)
        outcome = detector.update(event)
        if outcome.transition:
            transitions.append((i, event, outcome.transition))
    assert len(transitions) == 1
    i, event, tr = transitions[0]
    window = np.array(values[max(0, i - 3) : i + 1])  # (t - 4 s, t] holds 4 events
    assert isinstance(tr, Transition)
    assert tr._fields == (
        "drift_event_id", "source_id", "metric", "event_type", "event_time_ms", "rolling_mean",
        "rolling_std", "rolling_count", "baseline_mean", "baseline_std", "z_score", "std_ratio",
        "trigger_event_id", "config_version", "method", "statistic_name", "statistic", "threshold",
        "cusum_statistics", "cusum_thresholds",
    )
    assert (tr.method, tr.statistic_name, tr.statistic, tr.threshold) == ("zscore", "z_score", tr.z_score, 3.0)
    assert (tr.source_id, tr.metric, tr.event_type, tr.event_time_ms) == ("s", "m", "DRIFT_START", event.event_time_ms)
    assert tr.rolling_count == len(window)
    assert tr.rolling_mean == pytest.approx(window.mean(), rel=1e-12)
    assert tr.rolling_std == pytest.approx(window.std(ddof=1), rel=1e-12)
    assert (tr.baseline_mean, tr.baseline_std) == (10.0, 2.0)
    assert tr.z_score == pytest.approx(abs(window.mean() - 10.0) / 2.0, rel=1e-12)
    assert tr.std_ratio == pytest.approx(window.std(ddof=1) / 2.0, rel=1e-12)
    assert (tr.trigger_event_id, tr.config_version) == (event.event_id, 1)
    assert tr.drift_event_id == drift_event_id_for("s", "m", "DRIFT_START", event.event_id)


def run_stream(events):
    detector = detector_with(thresholds(enter_hits=3, exit_hits=3), Baseline(0.0, 1.0, 100))
    return [o.transition for o in map(detector.update, events) if o.transition]


def test_drift_event_ids_are_identical_across_two_replays_of_the_same_input():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 1, 100), rng.normal(0, 1, 300)])
    events = [make_event(f"s{i % 3}", "m", float(x), T0 + 100 * i) for i, x in enumerate(values)]
    first, second = run_stream(events), run_stream(list(events))
    assert first and first == second
    assert len({t.drift_event_id for t in first}) == len(first)


def test_statuses_of_changed_keys_are_drained_once():
    detector = detector_with(thresholds())
    detector.update(make_event("a", "m", 1.0, T0))
    detector.update(make_event("a", "m", 2.0, T0 + 1))
    detector.update(make_event("b", "m", 1.0, T0))
    drained = detector.drain_changed_statuses()
    assert [(s.source_id, s.rolling_count) for s in drained] == [("a", 2), ("b", 1)]
    assert all(isinstance(s, KeyStatus) for s in drained)
    assert detector.drain_changed_statuses() == []
    detector.update(make_event("a", "m", 2.0, T0 + 1))  # duplicate: nothing changed
    detector.update(make_event("a", "m", 2.0, T0 - 60_000))  # late: nothing changed
    assert detector.drain_changed_statuses() == []
    detector.update(make_event("b", "m", 3.0, T0 + 5))
    assert [s.source_id for s in detector.drain_changed_statuses()] == ["b"]


def test_status_fields_and_unknown_key():
    detector = detector_with(thresholds(min_samples=2))
    assert detector.status("nope", "m") is None
    detector.update(make_event("s", "m", 1.0, T0))
    detector.update(make_event("s", "m", 3.0, T0 + 1))
    status = detector.status("s", "m")
    assert status == KeyStatus("s", "m", DriftState.NORMAL, T0 + 1, T0 + 1, 2.0, 2**0.5, 2, 0.0, 1.0,
                               2.0, 2**0.5, 1, "zscore", "z_score", 2.0, 3.0)


def evaluate_violations(detector, key, count, t0, violating):
    for i in range(count):
        detector.update(make_event(key, "m", (50.0 if violating else 0.0) + 0.01 * (i % 2), t0 + i))


def test_reconfigure_with_equal_thresholds_keeps_the_hit_counter():
    th = thresholds(window_seconds=0.002, min_samples=2, enter_hits=4, std_ratio_threshold=1e9)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 100))
    evaluate_violations(detector, "s", 4, T0, True)  # evaluations 2..4: 3 violations
    assert detector.reconfigure(lambda s, m: thresholds(window_seconds=0.002, min_samples=2, enter_hits=4,
                                                         std_ratio_threshold=1e9), detector.baseline_for) == 0
    outcome = detector.update(make_event("s", "m", 50.0, T0 + 4))  # 4th violation
    assert outcome.transition.event_type == "DRIFT_START"


def test_reconfigure_with_changed_thresholds_resets_hits_and_keeps_the_window():
    th = thresholds(window_seconds=0.002, min_samples=2, enter_hits=4, std_ratio_threshold=1e9)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 100))
    evaluate_violations(detector, "s", 4, T0, True)
    new_th = thresholds(window_seconds=0.002, min_samples=2, enter_hits=4, std_ratio_threshold=1e9, z_threshold=10.0,
                        version=2)  # a real change (z threshold): hits restart
    count_before = detector.status("s", "m").rolling_count
    assert detector.reconfigure(lambda s, m: new_th, detector.baseline_for) == 1
    assert detector.status("s", "m").rolling_count == count_before
    transitions = [detector.update(make_event("s", "m", 50.0 + 0.01 * i, T0 + 4 + i)).transition for i in range(4)]
    assert [t.event_type if t else None for t in transitions] == [None, None, None, "DRIFT_START"]
    assert transitions[-1].config_version == 2


def test_reconfigure_to_a_shorter_window_evicts_and_longer_keeps():
    detector = detector_with(thresholds(window_seconds=10))
    for i in range(10):
        detector.update(make_event("s", "m", float(i), T0 + 1_000 * i))
    detector.reconfigure(lambda s, m: thresholds(window_seconds=3), detector.baseline_for)
    status = detector.status("s", "m")
    assert (status.rolling_count, status.rolling_mean) == (3, 8.0)
    detector.reconfigure(lambda s, m: thresholds(window_seconds=60), detector.baseline_for)
    detector.update(make_event("s", "m", 10.0, T0 + 10_000))
    assert detector.status("s", "m").rolling_count == 4


def test_baseline_change_applies_to_the_next_evaluation_without_reset():
    th = thresholds(min_samples=2, enter_hits=1, exit_hits=1)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 100))
    assert detector.update(make_event("s", "m", 10.0, T0)).transition is None
    assert detector.update(make_event("s", "m", 10.5, T0 + 1)).transition.event_type == "DRIFT_START"
    detector.reconfigure(lambda s, m: th, lambda s, m: Baseline(10.0, 0.5, 100))
    assert detector.status("s", "m").state is DriftState.DRIFTING
    tr = detector.update(make_event("s", "m", 10.0, T0 + 2)).transition
    assert tr.event_type == "DRIFT_END" and tr.baseline_mean == 10.0


def test_drop_keys_forgets():
    detector = detector_with(thresholds(min_samples=2, exit_hits=1))
    detector.update(make_event("s", "m", 1.0, T0))
    detector.update(make_event("t", "m", 0.1, T0))
    assert detector.key_count == 2
    assert detector.drop_keys([("s", "m"), ("zz", "m")]) == 1
    assert detector.keys() == [("t", "m")]
    assert [s.source_id for s in detector.drain_changed_statuses()] == ["t"]


def test_keys_use_their_own_thresholds_and_baselines():
    ths = {"fast": thresholds(min_samples=2, enter_hits=1), "slow": thresholds(min_samples=2, enter_hits=5)}
    detector = KeyedDetector(lambda s, m: ths[s], lambda s, m: Baseline(0.0, 1.0, 10))
    for key in ("fast", "slow"):
        detector.update(make_event(key, "m", 9.0, T0))
        detector.update(make_event(key, "m", 9.5, T0 + 1))
    assert detector.status("fast", "m").state is DriftState.DRIFTING
    assert detector.status("slow", "m").state is DriftState.NORMAL
    assert detector.counters == {"accepted": 4, "late": 0, "duplicate": 0, "drift_start": 1, "drift_end": 0,
                                 "transitions": 1}


def test_rolling_stats_stay_exact_over_one_million_events_near_1e9():
    rng = np.random.default_rng(99)
    n = 1_000_000
    noise = rng.normal(0.0, 1e-3, n)
    noise[300_000:320_000] *= 1e6
    values = (1e9 + noise).tolist()
    detector = detector_with(thresholds(window_seconds=0.5, min_samples=10), Baseline(1e9, 1e-3, 10))
    update = detector.update
    for i, x in enumerate(values):
        update(Event("s", "m", x, T0 + i, i))
    status = detector.status("s", "m")
    window = np.array(values[-500:])
    assert status.rolling_count == 500
    assert abs(status.rolling_mean - window.mean()) <= 1e-9 * window.mean()
    assert abs(status.rolling_std - window.std(ddof=1)) <= 1e-6 * window.std(ddof=1)


def test_reconfigure_with_a_new_version_but_the_same_values_keeps_hit_counters():
    from detection.core.config import Baseline, Thresholds
    from detection.core.detector import KeyedDetector
    from detection.core.events import make_event

    def th(version, z=2.0):
        return Thresholds(window_seconds=10, min_samples=3, z_threshold=z, std_ratio_threshold=1e9,
                          enter_hits=3, exit_hits=2, allowed_lateness_seconds=0, version=version)

    base = lambda s, m: Baseline(mean=0.0, std=1.0, count=100)  # noqa: E731
    det = KeyedDetector(lambda s, m: th(1), base)
    t = 0
    for x in [0.0, 0.1, -0.1, 50.0, 50.0]:  # two violations after the first evaluation
        assert det.update(make_event("s", "m", x, t)).transition is None
        t += 1000
    assert det.reconfigure(lambda s, m: th(2), base) == 0  # another row changed: same values
    out = det.update(make_event("s", "m", 50.0, t))  # third consecutive violation
    assert out.transition is not None and out.transition.event_type == "DRIFT_START"
    assert out.transition.config_version == 2
    # a real change resets the counters and is reported
    assert det.reconfigure(lambda s, m: th(3, z=4.0), base) == 1
