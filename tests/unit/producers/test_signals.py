"""Pure value generators: determinism, stationarity, bounded movement, exact drift effects."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config_app.services.thresholds import DEMO_DEFAULT
from producers.signals import (
    MEAN_SHIFT,
    VARIANCE,
    DynamicSignal,
    Effect,
    StableSignal,
    combine_effects,
    make_signal,
)

T0 = 1_700_000_000_000  # ms
KEY = ("drift-000", "cpu")


def series(signal, key, n, step_ms, start=T0, effects=()):
    return [signal.value_at(*key, start + i * step_ms, effects) for i in range(n)]


def test_same_seed_gives_the_same_values_in_any_order():
    times = [T0 + i * 137 for i in range(500)]
    forward = [StableSignal(5).value_at(*KEY, t) for t in times]
    backward = [StableSignal(5).value_at(*KEY, t) for t in reversed(times)]
    assert forward == backward[::-1]
    assert [DynamicSignal(5).value_at(*KEY, t) for t in times] == [DynamicSignal(5).value_at(*KEY, t) for t in times]


def test_different_seeds_and_keys_give_different_values():
    a = series(StableSignal(1), KEY, 50, 100)
    assert a != series(StableSignal(2), KEY, 50, 100)
    assert a != series(StableSignal(1), ("drift-001", "cpu"), 50, 100)
    assert StableSignal(1).profile(*KEY) != StableSignal(1).profile("drift-000", "latency_ms")


@given(seed=st.integers(0, 2**63), source=st.text(min_size=1, max_size=20), metric=st.text(min_size=1, max_size=20),
       t_ms=st.integers(0, 4_102_444_800_000))
@settings(max_examples=200, deadline=None)
def test_values_are_finite_and_profiles_in_range(seed, source, metric, t_ms):
    for signal in (StableSignal(seed), DynamicSignal(seed)):
        value = signal.value_at(source, metric, t_ms)
        assert math.isfinite(value)
        assert value == signal.value_at(source, metric, t_ms)
        profile = signal.profile(source, metric)
        assert 10.0 <= profile.mean <= 1000.0
        assert 0.02 * profile.mean <= profile.std <= 0.10 * profile.mean


def test_noise_is_standard_normal():
    signal = StableSignal(11)
    z = [signal.noise(*KEY, T0 + i) for i in range(40_000)]
    assert abs(statistics.fmean(z)) < 0.03  # SE 0.005
    assert statistics.pstdev(z) == pytest.approx(1.0, abs=0.02)
    beyond_2 = sum(abs(v) > 2 for v in z) / len(z)
    assert beyond_2 == pytest.approx(0.0455, abs=0.006)


def test_stable_signal_is_stationary():
    """Mean and std are the profile's, in every part of a long run (no trend, no change)."""
    signal = StableSignal(3)
    profile = signal.profile(*KEY)
    values = series(signal, KEY, 36_000, 100)  # one hour at 10 events/s
    chunks = [values[i:i + 6000] for i in range(0, len(values), 6000)]  # 10-minute chunks
    se = profile.std / math.sqrt(6000)
    for chunk in chunks:
        assert abs(statistics.fmean(chunk) - profile.mean) < 5 * se
        assert statistics.stdev(chunk) == pytest.approx(profile.std, rel=0.06)


def test_dynamic_movement_is_bounded_slow_and_real():
    signal = DynamicSignal(8)
    assert signal.amplitude == pytest.approx(0.6)
    moves = [signal.movement(*KEY, T0 + i * 1000) for i in range(2 * 3600)]  # two hours, 1 s steps
    assert max(abs(m) for m in moves) <= signal.amplitude
    # Slow: within one demo window (30 s) the mean moves by a small fraction of a sigma.
    window = int(DEMO_DEFAULT["window_seconds"])
    assert max(abs(moves[i + window] - moves[i]) for i in range(len(moves) - window)) < 0.15
    # Real: over an hour the 60 s means range over more than half a sigma.
    minute_means = [statistics.fmean(moves[i:i + 60]) for i in range(0, 3600, 60)]
    assert max(minute_means) - min(minute_means) > 0.5
    # The stable signal does not move at all.
    assert all(StableSignal(8).movement(*KEY, T0 + i * 1000) == 0.0 for i in range(100))


def test_dynamic_signal_stays_far_below_the_demo_drift_thresholds():
    """What the demo detector would compute: baseline = the key's whole hour, 30 s rolling
    windows at 5 events/s; neither z nor the std ratio comes near the thresholds."""
    signal = DynamicSignal(21)
    rate = 5
    values = series(signal, KEY, 3600 * rate, 1000 // rate)
    base_mean, base_std = statistics.fmean(values), statistics.stdev(values)
    per_window = int(DEMO_DEFAULT["window_seconds"]) * rate
    worst_z = worst_ratio = 0.0
    for i in range(0, len(values) - per_window, rate * 5):
        window = values[i:i + per_window]
        worst_z = max(worst_z, abs(statistics.fmean(window) - base_mean) / base_std)
        ratio = statistics.stdev(window) / base_std
        worst_ratio = max(worst_ratio, ratio, 1 / ratio)
    assert worst_z < 0.6 * DEMO_DEFAULT["z_threshold"]
    assert worst_ratio < 0.6 * DEMO_DEFAULT["std_ratio_threshold"]


@pytest.mark.parametrize("k", [0.5, 3.0, 4.0])
def test_mean_shift_adds_exactly_k_sigma(k):
    signal = StableSignal(4)
    profile = signal.profile(*KEY)
    for i in range(1000):
        t = T0 + i * 250
        base = signal.value_at(*KEY, t)
        shifted = signal.value_at(*KEY, t, (Effect(MEAN_SHIFT, k),))
        assert shifted - base == pytest.approx(k * profile.std, rel=1e-9)


@pytest.mark.parametrize("r", [0.25, 2.5, 4.0])
def test_variance_factor_scales_the_deviation_exactly(r):
    signal = StableSignal(4)
    profile = signal.profile(*KEY)
    base = series(signal, KEY, 20_000, 50)
    drifted = series(signal, KEY, 20_000, 50, effects=(Effect(VARIANCE, r),))
    for b, d in zip(base, drifted):
        assert d - profile.mean == pytest.approx(r * (b - profile.mean), rel=1e-9, abs=1e-9 * profile.mean)
    assert statistics.stdev(drifted) / statistics.stdev(base) == pytest.approx(r, rel=1e-9)
    assert statistics.fmean(drifted) == pytest.approx(profile.mean, abs=5 * r * profile.std / math.sqrt(20_000))


def test_effects_compose_and_drift_kind_is_stable_plus_effects():
    assert combine_effects([]) == (0.0, 1.0)
    assert combine_effects([Effect(MEAN_SHIFT, 1.5), Effect(MEAN_SHIFT, 2.0), Effect(VARIANCE, 2.0),
                            Effect(VARIANCE, 3.0)]) == (3.5, 6.0)
    drift, stable = make_signal("drift", 9), make_signal("stable", 9)
    assert series(drift, KEY, 100, 10) == series(stable, KEY, 100, 10)
    profile = drift.profile(*KEY)
    effects = (Effect(MEAN_SHIFT, 2.0), Effect(VARIANCE, 3.0))
    t = T0 + 12345
    z = drift.noise(*KEY, t)
    assert drift.value_at(*KEY, t, effects) == pytest.approx(profile.mean + profile.std * (2.0 + 3.0 * z), rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "magnitude", "message"),
    [("mean_shift", 0.0, "> 0"), ("mean_shift", -1.0, "> 0"), ("variance", 1.0, "changes nothing"),
     ("variance", float("nan"), "finite"), ("trend", 1.0, "kind must be"), ("mean_shift", True, "finite")],
)
def test_bad_effects_are_refused(kind, magnitude, message):
    with pytest.raises(ValueError, match=message):
        Effect(kind, magnitude)


def test_bad_signal_parameters_are_refused():
    with pytest.raises(ValueError):
        make_signal("sawtooth", 1)
    with pytest.raises(ValueError):
        StableSignal("1")
    with pytest.raises(ValueError):
        DynamicSignal(1, components=((0.3, 0.0), (0.2, 100.0)))
