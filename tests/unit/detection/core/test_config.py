"""Thresholds validation."""

from __future__ import annotations

import dataclasses

import pytest

from detection.core.config import Baseline, Thresholds

VALID = dict(
    window_seconds=60,
    min_samples=10,
    z_threshold=3.0,
    std_ratio_threshold=2.0,
    enter_hits=3,
    exit_hits=2,
    allowed_lateness_seconds=5,
)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_seconds", 0),
        ("window_seconds", -1),
        ("window_seconds", float("nan")),
        ("window_seconds", float("inf")),
        ("window_seconds", 0.0001),
        ("window_seconds", "60"),
        ("min_samples", 1),
        ("min_samples", 2.5),
        ("min_samples", True),
        ("z_threshold", 0),
        ("z_threshold", float("nan")),
        ("std_ratio_threshold", 1.0),
        ("std_ratio_threshold", 0.5),
        ("enter_hits", 0),
        ("exit_hits", 0),
        ("allowed_lateness_seconds", -0.001),
        ("allowed_lateness_seconds", float("inf")),
        ("version", "1"),
    ],
)
def test_invalid_threshold_raises_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Thresholds(**{**VALID, field: value})


def test_valid_thresholds_derive_milliseconds_and_compare_by_value():
    th = Thresholds(**VALID, version=4)
    assert (th.window_ms, th.allowed_lateness_ms) == (60_000, 5_000)
    assert th == Thresholds(**VALID, version=4)
    assert th != Thresholds(**VALID, version=5)
    assert hash(th) == hash(Thresholds(**VALID, version=4))
    assert Thresholds(**{**VALID, "window_seconds": 0.0015}).window_ms == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        th.min_samples = 3


def test_baseline_is_a_frozen_value():
    baseline = Baseline(mean=1.0, std=2.0, count=3)
    assert baseline == Baseline(1.0, 2.0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        baseline.mean = 2.0
