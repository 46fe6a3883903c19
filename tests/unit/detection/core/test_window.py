"""EventTimeWindow against a brute-force model of its exact contents."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pytest
from tests.unit.detection.core.exact_reference import (
    PROPERTY,
    assert_stats_match,
    value_families,
    values_of,
)
from hypothesis import given
from hypothesis import strategies as st

from detection.core.window import COMPACT_MIN, EventTimeWindow

BASE_MS = 1_704_067_200_000


class BruteForceWindow:
    """The documented semantics, written the obvious way: (newest - window, newest]."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.items: list[tuple[int, float]] = []
        self.newest: int | None = None

    def add(self, t: int, x: float) -> bool:
        if self.newest is not None and t <= self.newest - self.window_ms:
            return False
        times = [tt for tt, _ in self.items]
        self.items.insert(bisect_right(times, t), (t, x))
        self.newest = t if self.newest is None else max(self.newest, t)
        self.items = [(tt, xx) for tt, xx in self.items if tt > self.newest - self.window_ms]
        return True


def assert_window_equals(window: EventTimeWindow, ref: BruteForceWindow) -> None:
    assert list(window.items()) == ref.items
    values = [x for _, x in ref.items]
    assert_stats_match(window.count, window.mean, window.std, values)
    assert window.newest_ms == ref.newest


@PROPERTY
@given(
    window_ms=st.integers(1, 30),
    data=st.data(),
    family=value_families,
)
def test_window_matches_brute_force_including_out_of_order_and_boundary(window_ms, data, family):
    ops = data.draw(st.lists(st.tuples(st.integers(-35, 35), values_of(family)), max_size=150))
    window = EventTimeWindow(window_ms)
    ref = BruteForceWindow(window_ms)
    for delta, x in ops:
        t = (ref.newest if ref.newest is not None else BASE_MS) + delta
        assert window.add(t, x) == ref.add(t, x)
        assert_window_equals(window, ref)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    window_ms=st.integers(5, 80),
    steps=st.lists(st.integers(-4, 3), min_size=2, max_size=300),
)
def test_window_near_1e9_with_1e_3_noise_matches_numpy(seed, window_ms, steps):
    """1e9 + N(0, 1e-3) noise, in and out of order, against numpy over the exact contents.

    numpy's two-pass std is itself only accurate when the spread is well above the resolution
    of the values (~1.2e-7 at 1e9), so the std is compared from 10 values on; the exact
    rational reference above covers every window size.
    """
    noise = np.random.default_rng(seed).normal(0.0, 1e-3, len(steps))
    window = EventTimeWindow(window_ms)
    ref = BruteForceWindow(window_ms)
    t = BASE_MS
    for step, e in zip(steps, noise):
        t += step
        x = 1e9 + float(e)
        assert window.add(t, x) == ref.add(t, x)
        values = np.array([x for _, x in ref.items])
        assert window.count == len(values)
        assert abs(window.mean - values.mean()) <= 1e-9 * abs(values.mean())
        if len(values) >= 10:
            expected = values.std(ddof=1)
            assert abs(window.std - expected) <= 1e-6 * expected


def test_event_exactly_window_ms_older_than_newest_is_evicted():
    window = EventTimeWindow(1_000)
    window.add(0, 1.0)
    window.add(999, 2.0)
    assert window.count == 2
    window.add(1_000, 3.0)  # bound is now 1000 - 1000 = 0, exclusive
    assert list(window.items()) == [(999, 2.0), (1_000, 3.0)]
    assert window.start_ms == 0


def test_out_of_order_event_at_the_exclusive_bound_is_not_inserted():
    window = EventTimeWindow(1_000)
    window.add(5_000, 1.0)
    assert window.add(4_000, 2.0) is False
    assert window.add(4_001, 2.0) is True
    assert list(window.items()) == [(4_001, 2.0), (5_000, 1.0)]


def test_equal_event_times_keep_arrival_order():
    window = EventTimeWindow(100)
    for x in (1.0, 2.0, 3.0):
        window.add(50, x)
    window.add(40, 0.5)
    assert list(window.items()) == [(40, 0.5), (50, 1.0), (50, 2.0), (50, 3.0)]


def test_contains_distinguishes_signed_zero_and_time():
    window = EventTimeWindow(100)
    window.add(10, 0.0)
    window.add(20, 5.0)
    assert window.contains(10, 0.0)
    assert not window.contains(10, -0.0)
    assert not window.contains(11, 0.0)
    assert window.contains(20, 5.0)
    assert not window.contains(20, 5.000001)


def test_a_gap_longer_than_the_window_empties_it_and_reanchors():
    window = EventTimeWindow(10)
    for t in range(10):
        window.add(t, 1e12 + t)
    window.add(1_000, 3.0)
    window.add(1_001, 5.0)
    assert list(window.items()) == [(1_000, 3.0), (1_001, 5.0)]
    assert window.mean == 4.0
    assert window.std == pytest.approx(2**0.5, rel=1e-15)


def test_spread_collapse_after_a_regime_change_is_exact():
    # Huge spread, then a constant: accumulated rounding of the first regime must not leak.
    window = EventTimeWindow(100)
    rng = np.random.default_rng(3)
    t = 0
    for x in rng.normal(0.0, 1e8, 500):
        t += 1
        window.add(t, float(x))
    for _ in range(100):
        t += 1
        window.add(t, 7.25)
    assert window.count == 100
    assert window.mean == 7.25
    assert window.std == 0.0
    for i in range(100):
        t += 1
        window.add(t, 7.25 + (1e-9 if i % 2 else -1e-9))
    values = np.array(window.values())
    assert abs(window.std - values.std(ddof=1)) <= 1e-6 * values.std(ddof=1)


def test_set_window_ms_shrinks_by_evicting_and_keeps_the_rest():
    window = EventTimeWindow(1_000)
    for t in range(0, 1_000, 100):
        window.add(t, float(t))
    window.set_window_ms(300)
    assert [t for t, _ in window.items()] == [700, 800, 900]
    assert window.mean == 800.0
    window.set_window_ms(10_000)
    window.add(1_000, 1_000.0)
    assert window.count == 4


def test_memory_stays_bounded_by_the_window():
    window = EventTimeWindow(64)
    for t in range(100_000):
        window.add(t, float(t % 7))
    assert window.count == 64
    assert len(window._times) <= 2 * window.count + COMPACT_MIN
    assert len(window._values) == len(window._times)


def test_invalid_window_length_is_rejected():
    with pytest.raises(ValueError, match="window_ms"):
        EventTimeWindow(0)


def test_one_million_updates_near_1e9_keep_mean_and_std_exact():
    """1,000,000 in-order updates (1,000 in the window), a wide-spread regime in the middle."""
    rng = np.random.default_rng(20240101)
    n = 1_000_000
    noise = rng.normal(0.0, 1e-3, n)
    noise[400_000:500_000] = rng.normal(0.0, 1e3, 100_000)  # spread 1e6 times larger, then back
    values = (1e9 + noise).tolist()
    window = EventTimeWindow(1_000)
    add = window.add
    checkpoints = {450_000, 500_500, 600_000, n - 1}
    for t, x in enumerate(values):
        add(t, x)
        if t in checkpoints:
            contents = np.array(values[t - 999 : t + 1])
            assert window.count == 1_000
            assert list(window.values()) == contents.tolist()
            mean, std = contents.mean(), contents.std(ddof=1)
            assert abs(window.mean - mean) <= 1e-9 * abs(mean)
            assert abs(window.std - std) <= 1e-6 * std
