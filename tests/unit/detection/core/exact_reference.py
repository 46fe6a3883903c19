"""Brute-force references and tolerances shared by the core's unit tests.

The reference statistics are computed over the exact window contents with rational arithmetic
(``fractions.Fraction``), so they are exact up to the final rounding; numpy is used as a second
reference where the data is well conditioned (numpy's own error grows when the spread is tiny
compared with the magnitude of the values).

Tolerances (the precision the core promises):

- count: exact;
- mean: ``1e-9`` relative, plus ``1e-12 * max|x|`` absolute for means that cancel to ~0
  (e.g. +1e15 and -1e15 in one window: no float algorithm can do better than the magnitude
  of the values allows);
- sample std: ``1e-6`` relative, plus ``1e-150`` absolute: squared deviations below ~1e-154
  underflow into subnormal doubles (a spread of 1e-160 keeps only a few significant bits in any
  double-precision algorithm); no telemetry lives there, see the ±1e150 cap on values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st

# CORE_PROPERTY_EXAMPLES=5000 for a longer soak than the default run.
PROPERTY = settings(deadline=None, max_examples=int(os.environ.get("CORE_PROPERTY_EXAMPLES", "200")))

MEAN_REL = 1e-9
MEAN_ABS_OF_SCALE = 1e-12
SUBNORMAL_SPACING = 2 * 5e-324
STD_REL = 1e-6
STD_ABS = 1e-150

# Values: ordinary magnitudes, the hard case 1e9 + 1e-3 noise, and special values.
ordinary_values = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
near_1e9_values = st.floats(min_value=-1e-3, max_value=1e-3).map(lambda e: 1e9 + e)
special_values = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e-300, 1e15, -1e15, 123456789.123, 1e9])
mixed_values = st.one_of(ordinary_values, near_1e9_values, special_values)
value_families = st.sampled_from(["mixed", "near_1e9", "small_ints"])


def values_of(family: str) -> st.SearchStrategy[float]:
    if family == "near_1e9":
        return near_1e9_values
    if family == "small_ints":
        return st.integers(-5, 5).map(float)
    return mixed_values


def exact_mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Exact mean and sample std (``n - 1``; 0.0 below two values), rounded once at the end."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    exact = [Fraction(x) for x in values]
    mean = sum(exact) / n
    if n < 2:
        return float(mean), 0.0
    var = sum((x - mean) ** 2 for x in exact) / (n - 1)
    return float(mean), math.sqrt(float(var))


def assert_mean_close(actual: float, expected: float, values: Sequence[float]) -> None:
    scale = max((abs(x) for x in values), default=0.0)
    # Plus the spacing of subnormal doubles: running sums that once held a larger value keep an
    # error of that size, which the scale of tiny current values (5e-324) would round to 0.
    tolerance = MEAN_REL * abs(expected) + MEAN_ABS_OF_SCALE * scale + SUBNORMAL_SPACING
    assert abs(actual - expected) <= tolerance, (actual, expected, tolerance)


def assert_std_close(actual: float, expected: float) -> None:
    tolerance = STD_REL * expected + STD_ABS
    assert abs(actual - expected) <= tolerance, (actual, expected, tolerance)


def assert_stats_match(count: int, mean: float, std: float, values: Sequence[float]) -> None:
    assert count == len(values)
    ref_mean, ref_std = exact_mean_std(values)
    assert_mean_close(mean, ref_mean, values)
    assert_std_close(std, ref_std)
