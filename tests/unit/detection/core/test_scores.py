"""Scores and the explicit degenerate-baseline rule."""

from __future__ import annotations

import math

import pytest

from detection.core.config import Baseline, Thresholds
from detection.core.scores import resolve_baseline, score

TH = Thresholds(
    window_seconds=60, min_samples=2, z_threshold=3.0, std_ratio_threshold=2.0,
    enter_hits=1, exit_hits=1, allowed_lateness_seconds=0,
)


def test_z_and_ratio_follow_the_definitions():
    result = score(13.0, 4.0, resolve_baseline(Baseline(mean=10.0, std=2.0, count=50)), TH)
    assert (result.z_score, result.std_ratio) == (1.5, 2.0)
    assert result.violation is False  # both exactly at/below their thresholds: not beyond


@pytest.mark.parametrize(
    ("rolling_mean", "rolling_std", "violation"),
    [
        (16.0, 2.0, False),  # z == 3: not a violation (strictly greater is)
        (16.01, 2.0, True),  # mean shift
        (3.99, 2.0, True),  # mean shift downwards
        (10.0, 4.01, True),  # spread grew beyond 2x
        (10.0, 0.99, True),  # spread shrank below 1/2
        (10.0, 1.0, False),  # exactly 1/2: not beyond
    ],
)
def test_violation_is_mean_shift_or_spread_growth_or_shrink(rolling_mean, rolling_std, violation):
    baseline = resolve_baseline(Baseline(mean=10.0, std=2.0, count=50))
    assert score(rolling_mean, rolling_std, baseline, TH).violation is violation


@pytest.mark.parametrize("bad", [None, Baseline(float("nan"), 1.0, 5), Baseline(float("inf"), 1.0, 5)])
def test_missing_baseline_or_non_finite_mean_means_not_evaluated(bad):
    assert resolve_baseline(bad) is None


@pytest.mark.parametrize(
    "baseline",
    [
        Baseline(5.0, 0.0, 100),
        Baseline(5.0, -1.0, 100),
        Baseline(5.0, float("nan"), 100),
        Baseline(5.0, float("inf"), 100),
    ],
)
def test_degenerate_baseline_std_uses_the_floor_and_never_divides_by_zero(baseline):
    resolved = resolve_baseline(baseline)
    assert resolved.std_floored and resolved.std == 5e-9
    constant = score(5.0, 0.0, resolved, TH)
    assert (constant.z_score, constant.std_ratio, constant.violation) == (0.0, 0.0, False)
    shifted = score(5.001, 0.0, resolved, TH)
    assert shifted.violation and math.isfinite(shifted.z_score)
    noisy = score(5.0, 1e-3, resolved, TH)
    assert noisy.violation and math.isfinite(noisy.std_ratio)


def test_floor_has_an_absolute_minimum_for_a_zero_mean():
    resolved = resolve_baseline(Baseline(0.0, 0.0, 10))
    assert resolved.std == 1e-12
    assert score(0.0, 0.0, resolved, TH).violation is False
    assert score(1e-9, 0.0, resolved, TH).violation is True


def test_baseline_count_does_not_matter_only_its_std():
    assert resolve_baseline(Baseline(5.0, 2.0, 0)).std == 2.0  # count unknown (e.g. replay flags)


def test_flatline_against_a_positive_baseline_std_is_a_shrink_violation():
    resolved = resolve_baseline(Baseline(5.0, 1.0, 100))
    assert score(5.0, 0.0, resolved, TH).violation is True
