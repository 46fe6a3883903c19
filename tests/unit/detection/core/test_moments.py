"""Running moments, Chan's merge and the sample-std convention."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from tests.unit.detection.core.exact_reference import PROPERTY, assert_mean_close, assert_stats_match, exact_mean_std, mixed_values
from hypothesis import assume, given
from hypothesis import strategies as st

from detection.core.moments import Moments, merge, moments_of, sample_std, sample_variance

offsets = st.sampled_from([0.0, 1e3, 1e6, 1e9, -1e9, 1e12])
scales = st.sampled_from([1e-3, 1.0, 1e3])


@st.composite
def sample_and_splits(draw):
    """A normal sample around a (possibly large) offset, cut into random consecutive batches.

    The spread is kept at >= 1e-9 of the offset (1e9 +- 1, 1e12 +- 1e3): each batch's mean is a
    double, rounded to half an ulp of the offset, and that rounding alone moves the merged std
    by ~ulp(offset)/std relative, whatever the merge algorithm. Smaller spreads are covered by
    merging in shifted coordinates (next tests).
    """
    offset, scale = draw(offsets), draw(scales)
    assume(scale >= abs(offset) * 1e-9)
    n = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    values = (offset + scale * np.random.default_rng(seed).normal(size=n)).tolist()
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=12)))
    batches = [values[a:b] for a, b in zip([0, *cuts], [*cuts, n])]
    return values, batches


@PROPERTY
@given(sample_and_splits())
def test_merging_any_split_equals_the_whole_sample(sample):
    values, batches = sample
    count, mean, m2 = 0, 0.0, 0.0
    for batch in batches:
        count, mean, m2 = merge(count, mean, m2, *moments_of(batch))
    assert_stats_match(count, mean, sample_std(count, m2), values)
    arr = np.array(values)
    assert abs(mean - arr.mean()) <= 1e-9 * abs(arr.mean()) + 1e-12 * np.abs(arr).max()


@PROPERTY
@given(sample_and_splits())
def test_merging_welford_batches_equals_the_whole_sample(sample):
    """Batches accumulated value by value (as a streaming job would) merge to the same result."""
    values, batches = sample
    total = Moments()
    for batch in batches:
        part = Moments()
        for x in batch:
            part.add(x)
        total = total.merge(part)
    assert_stats_match(total.count, total.mean, total.std, values)


@PROPERTY
@given(st.lists(mixed_values, max_size=60), st.lists(mixed_values, max_size=60))
def test_merge_of_arbitrary_values_is_exact_up_to_the_rounding_of_the_batch_means(left, right):
    """Any values: count exact, mean 1e-9, and M2 within 2e-6 relative plus the effect of each
    batch mean being a double (moved by at most u = ulp(max|x|)/2): 2*n*spread*u + n*u**2."""
    values = left + right
    count, mean, m2 = merge(*moments_of(left), *moments_of(right))
    assert count == len(values)
    ref_mean, _ = exact_mean_std(values)
    assert_mean_close(mean, ref_mean, values)
    if count >= 2:
        exact = [Fraction(x) for x in values]
        exact_mean = sum(exact) / count
        ref_m2 = float(sum((x - exact_mean) ** 2 for x in exact))
        u = math.ulp(max(abs(x) for x in values)) / 2
        spread = max(values) - min(values)
        # the last term: squares of tiny values are subnormal, whose spacing is 5e-324
        assert abs(m2 - ref_m2) <= 2e-6 * ref_m2 + 2 * count * spread * u + count * u * u + count * 5e-324


def test_merge_with_an_empty_side_returns_the_other():
    assert merge(0, 0.0, 0.0, 3, 2.0, 8.0) == (3, 2.0, 8.0)
    assert merge(3, 2.0, 8.0, 0, 0.0, 0.0) == (3, 2.0, 8.0)
    assert merge(0, 0.0, 0.0, 0, 0.0, 0.0) == (0, 0.0, 0.0)


def test_merge_rejects_negative_counts():
    with pytest.raises(ValueError):
        merge(-1, 0.0, 0.0, 1, 0.0, 0.0)


def test_std_is_the_sample_std_and_zero_below_two_values():
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    count, _, m2 = moments_of(values)
    assert sample_std(count, m2) == pytest.approx(np.std(values, ddof=1), rel=1e-15)
    assert sample_variance(1, 0.0) == 0.0
    assert sample_std(0, 0.0) == 0.0
    assert sample_variance(5, -1e-20) == 0.0  # rounding below zero never gives NaN


@PROPERTY
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 40), min_size=1, max_size=20))
def test_merging_shifted_batches_keeps_1e9_plus_1e_3_noise_exact(seed, sizes):
    """1e9 + 1e-3 noise in batches as small as one value: aggregate ``value - shift``, merge,
    add the shift back (what the baseline job does with its stored mean as the shift)."""
    values = (1e9 + np.random.default_rng(seed).normal(0.0, 1e-3, sum(sizes))).tolist()
    shift = 1e9
    count, mean, m2 = 0, 0.0, 0.0
    start = 0
    for size in sizes:
        batch = [x - shift for x in values[start : start + size]]  # exact (Sterbenz)
        count, mean, m2 = merge(count, mean, m2, *moments_of(batch))
        start += size
    if count >= 10:  # numpy's own std is unreliable for a handful of values this close
        arr = np.array(values)
        assert abs(shift + mean - arr.mean()) <= 1e-9 * arr.mean()
        assert abs(sample_std(count, m2) - arr.std(ddof=1)) <= 1e-6 * arr.std(ddof=1)
    assert_stats_match(count, shift + mean, sample_std(count, m2), values)


def test_large_offset_small_noise_is_kept_by_merge():
    rng = np.random.default_rng(11)
    values = (1e9 + rng.normal(0.0, 1e-3, 10_000)).tolist()
    count, mean, m2 = 0, 0.0, 0.0
    for i in range(0, 10_000, 137):
        count, mean, m2 = merge(count, mean, m2, *moments_of(values[i : i + 137]))
    arr = np.array(values)
    assert count == 10_000
    assert abs(mean - arr.mean()) <= 1e-9 * arr.mean()
    assert abs(sample_std(count, m2) - arr.std(ddof=1)) <= 1e-6 * arr.std(ddof=1)
