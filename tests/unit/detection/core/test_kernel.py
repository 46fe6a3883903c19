"""The cusum kernel: the compiled one and its pure-Python twin against the plain reference.

Both implementations of :class:`detection.core.kernel.CusumState` must give the same
statistics and decisions as :class:`~detection.core.cusum.CusumReference`, and the same bits
as each other (the compiled one is built with ``-ffp-contract=off`` for that).
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.detection.core.exact_reference import PROPERTY
from tests.unit.detection.core.test_cusum import cusum_thresholds, feed

from detection.core import detector as detector_module
from detection.core import kernel
from detection.core.config import Baseline
from detection.core.cusum import CusumReference, cusum_params
from detection.core.detector import KeyedDetector
from detection.core.snapshot import restore, snapshot

IMPLEMENTATIONS = [kernel.PyCusumState] + ([kernel.CusumState] if kernel.NATIVE else [])
IDS = [cls.__module__ + "." + cls.__name__ for cls in IMPLEMENTATIONS]


def test_the_compiled_kernel_is_built():
    """`make setup` builds it (scripts/build_native); without it cusum runs ~40 % slower."""
    if os.environ.get("DRIFT_ALLOW_PURE_PYTHON_KERNEL") == "1":
        pytest.skip("DRIFT_ALLOW_PURE_PYTHON_KERNEL=1: the pure-Python kernel is accepted")
    assert kernel.NATIVE, "detection/core/_kernel.c is not built: run `make native` (needs gcc)"
    assert kernel.CusumState is not kernel.PyCusumState


@st.composite
def runs(draw):
    params = cusum_params(
        target_false_alarms_per_100k=draw(st.sampled_from([0.5, 50.0, 5000.0])),
        mean_shift_sigma=draw(st.sampled_from([0.5, 1.0, 2.0])),
        std_up_ratio=draw(st.sampled_from([1.5, 2.0, 3.0])),
        std_down_ratio=draw(st.sampled_from([0.5, 0.8])),
        autocorrelation=draw(st.sampled_from([0.0, 0.2, 0.3])),
    )
    floored = draw(st.booleans())
    mean = draw(st.sampled_from([0.0, -3.5, 1e9]))
    std = draw(st.sampled_from([1.0, 0.25, 5e-9]))
    # Values in sigma units around the mean, plus raw extremes: u*u overflows to inf, and
    # 0 * inf (a floored std's zeroed coefficient) is NaN, which must clamp to 0.
    offsets = st.one_of(st.floats(-6, 6, allow_nan=False), st.sampled_from([1e150, -1e150, 0.0]))
    steps = draw(st.lists(st.tuples(offsets, st.booleans(), st.integers(0, 40)), min_size=1, max_size=200))
    return params, floored, mean, std, steps


def _value(mean: float, std: float, offset: float) -> float:
    return offset if abs(offset) >= 1e150 else mean + std * offset


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=IDS)
@PROPERTY
@given(run=runs())
def test_kernel_matches_the_plain_reference(implementation, run):
    params, floored, mean, std, steps = run
    if floored:
        params = params.without_shrink()
    state = implementation()
    state.configure(params.coefficients, mean, 1.0 / std)
    reference = CusumReference(params)
    assert state.thresholds == tuple(params.thresholds)
    for offset, drifting, reset in steps:
        x = _value(mean, std, offset)
        u = (x - mean) * (1.0 / std)
        expected = reference.update(u, drifting)
        got = state.step_capped(x) if drifting else state.step(x)
        assert got is expected
        assert state.statistics == tuple(reference.stats)
        if reset == 0:  # now and then, as at DRIFT_END
            state.reset()
            reference.reset()
            assert state.statistics == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.skipif(not kernel.NATIVE, reason="the compiled kernel is not built")
@PROPERTY
@given(run=runs())
def test_compiled_and_python_kernels_agree_to_the_bit(run):
    params, floored, mean, std, steps = run
    pair = [kernel.CusumState(), kernel.PyCusumState()]
    if floored:
        params = params.without_shrink()
    for state in pair:
        state.configure(params.coefficients, mean, 1.0 / std)
    for offset, drifting, _ in steps:
        x = _value(mean, std, offset)
        hits = {state.step_capped(x) if drifting else state.step(x) for state in pair}
        assert len(hits) == 1
        native, python = (tuple(s.hex() for s in state.statistics) for state in pair)
        assert native == python


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=IDS)
def test_bad_configuration_is_a_clear_error(implementation):
    state = implementation()
    with pytest.raises(ValueError, match="expected 10 numbers, got 9"):
        state.configure((1.0,) * 9, 0.0, 1.0)
    with pytest.raises(TypeError):
        state.configure((1.0,) * 9 + ("x",), 0.0, 1.0)
    with pytest.raises(TypeError):
        state.configure((1.0,) * 10, None, 1.0)
    with pytest.raises(ValueError, match="expected 4 numbers, got 3"):
        state.statistics = (1.0, 2.0, 3.0)
    state.statistics = (1, 2.5, 0, 3)  # ints are numbers
    assert state.statistics == (1.0, 2.5, 0.0, 3.0)
    with pytest.raises(TypeError):
        state.step("1.0")


@pytest.mark.skipif(not kernel.NATIVE, reason="the compiled kernel is not built")
def test_compiled_steps_keep_no_memory():
    """O(1) state: 200k steps leave the traced memory exactly where it was."""
    state = kernel.CusumState()
    params = cusum_params(target_false_alarms_per_100k=0.5, mean_shift_sigma=1.0, std_up_ratio=2.0,
                          std_down_ratio=0.5, autocorrelation=0.0)
    state.configure(params.coefficients, 10.0, 0.5)
    values = np.random.default_rng(3).normal(10.0, 2.0, 100_000).tolist()
    step, step_capped = state.step, state.step_capped
    step(values[0])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for x in values:
            step(x)
            step_capped(x)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before == 0


def test_the_detector_decides_alike_with_either_kernel(monkeypatch):
    """Same transitions, statuses and snapshots with the compiled and the Python kernel; a
    snapshot taken with one restores into the other."""
    th = cusum_thresholds(target_false_alarms_per_100k=5.0, exit_hits=3)
    resolvers = (lambda s, m: th, lambda s, m: Baseline(0.0, 1.0, 1000, 0.1))
    rng = np.random.default_rng(11)
    shifts = np.r_[np.zeros(800), np.full(400, 1.2), np.zeros(600), np.full(400, 0.0)]
    spread = np.r_[np.ones(1800), np.full(400, 2.5)]
    values = (rng.standard_normal(2200) * spread + shifts).tolist()

    def run(cls, start=None):
        monkeypatch.setattr(detector_module, "CusumState", cls)
        det = KeyedDetector(*resolvers)
        if start is not None:
            restore(det, start)
        transitions = feed(det, values[:1500] if start is None else values[1500:], 0 if start is None else 1500)
        return det, [(t.drift_event_id, t.event_type, t.cusum_statistics) for t in transitions]

    native_cls = kernel.CusumState
    a, first_a = run(native_cls)
    b, first_b = run(kernel.PyCusumState)
    assert first_a and first_a == first_b
    assert a.status("s", "m") == b.status("s", "m")
    assert snapshot(a) == snapshot(b)
    _, rest_a = run(kernel.PyCusumState, start=snapshot(a))  # compiled -> Python
    _, rest_b = run(native_cls, start=snapshot(b))  # Python -> compiled
    assert rest_a and rest_a == rest_b



def test_the_system_check_warns_when_the_kernel_is_pure_python(monkeypatch):
    from driftsite.checks import check_drift_settings

    monkeypatch.setattr(kernel, "NATIVE", False)
    monkeypatch.setattr(kernel, "NOT_NATIVE_REASON", "not built (no module named _kernel)")
    messages = check_drift_settings(None)
    assert [m.id for m in messages] == ["driftsite.W001"]
    assert "not built (no module named _kernel)" in messages[0].msg
    monkeypatch.setattr(kernel, "NATIVE", True)
    assert check_drift_settings(None) == []


@pytest.mark.skipif(not kernel.NATIVE, reason="the compiled kernel is not built")
def test_a_library_of_another_interface_version_is_not_used(monkeypatch):
    """A library built from an older _kernel.c (an update without `make native`) would lack what
    the detector calls; it is left unused, with the reason, instead of failing on the hot path."""
    from detection.core import _kernel

    assert kernel._compiled() == (_kernel.CusumState, "")
    monkeypatch.setattr(_kernel, "VERSION", kernel.VERSION + 1)
    compiled, reason = kernel._compiled()
    assert compiled is None
    assert f"another version of _kernel.c ({kernel.VERSION + 1}, expected {kernel.VERSION})" in reason
