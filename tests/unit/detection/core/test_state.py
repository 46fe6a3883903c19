"""The N-to-enter / M-to-exit state machine, alone and as run by the keyed detector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector
from detection.core.events import make_event
from detection.core.state import DriftState, Hysteresis

T0 = 1_704_067_200_000


def feed(machine, violations):
    return [machine.update(v) for v in violations]


def test_states_are_spelled_as_stored():
    assert [s.value for s in DriftState] == ["INITIALIZING", "NORMAL", "DRIFTING"]
    assert DriftState.DRIFTING == "DRIFTING" and str(DriftState.NORMAL) == "NORMAL"


def test_n_minus_one_violations_do_not_start_drift_n_do():
    machine = Hysteresis(enter_hits=3, exit_hits=2)
    assert feed(machine, [True, True]) == [None, None]
    assert machine.state is DriftState.NORMAL
    assert machine.update(True) == "DRIFT_START"
    assert machine.state is DriftState.DRIFTING


def test_an_interruption_resets_the_enter_counter():
    machine = Hysteresis(enter_hits=3, exit_hits=2)
    assert feed(machine, [True, True, False, True, True]) == [None] * 5
    assert machine.update(True) == "DRIFT_START"


def test_m_minus_one_normals_do_not_end_drift_m_do_and_a_violation_resets():
    machine = Hysteresis(enter_hits=1, exit_hits=3)
    assert machine.update(True) == "DRIFT_START"
    assert feed(machine, [False, False, True, False, False]) == [None] * 5
    assert machine.state is DriftState.DRIFTING
    assert machine.update(False) == "DRIFT_END"
    assert machine.state is DriftState.NORMAL


def test_first_evaluation_leaves_initializing_and_counts_as_a_hit():
    machine = Hysteresis(enter_hits=1, exit_hits=1)
    assert machine.state is DriftState.INITIALIZING
    assert machine.update(True) == "DRIFT_START"


def test_invalid_hits_are_rejected():
    with pytest.raises(ValueError):
        Hysteresis(enter_hits=0, exit_hits=1)


@given(
    enter_hits=st.integers(1, 4),
    exit_hits=st.integers(1, 4),
    violations=st.lists(st.booleans(), max_size=60),
)
def test_detector_runs_the_same_machine_as_the_reference(enter_hits, exit_hits, violations):
    """One evaluation per step with a known verdict.

    Window 1 ms and min_samples 2: each step sends two events at the same new millisecond, so
    only the second is evaluated, over exactly those two. The baseline is constant at 0 (std
    floored, shrink test off): (0.0, -0.0) is normal, (100.0, 100.5) a violation.
    """
    th = Thresholds(window_seconds=0.001, min_samples=2, z_threshold=3, std_ratio_threshold=2,
                    enter_hits=enter_hits, exit_hits=exit_hits, allowed_lateness_seconds=0)
    detector = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(0.0, 0.0, 10))
    reference = Hysteresis(enter_hits, exit_hits)
    for i, violation in enumerate(violations):
        first, second = (100.0, 100.5) if violation else (0.0, -0.0)
        t = T0 + i
        assert detector.update(make_event("s", "m", first, t)).transition is None
        assert detector.status("s", "m").z_score is None  # one value: not evaluated
        outcome = detector.update(make_event("s", "m", second, t))
        assert outcome.kind == "ACCEPTED"
        expected = reference.update(violation)
        assert (outcome.transition.event_type if outcome.transition else None) == expected
        assert detector.status("s", "m").state is reference.state
