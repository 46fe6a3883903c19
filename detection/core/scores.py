"""Drift scores of a rolling window against a baseline, and the violation rule.

- ``z = |rolling_mean - baseline_mean| / baseline_std``
- ``ratio = rolling_std / baseline_std``
- violation: ``z > z_threshold`` or ``ratio > std_ratio_threshold`` or
  ``ratio < 1 / std_ratio_threshold`` (the spread grew or shrank).

Degenerate baselines -- the explicit rule (never a division by zero, never a silent NaN):

1. No baseline (``None``) or a baseline mean that is not finite: the key is NOT evaluated; a key
   that was never evaluated stays ``INITIALIZING``, any other key keeps its state.
2. A baseline std that is zero, negative, NaN or infinite (a baseline of fewer than two
   values has sample std 0, see moments.py) is replaced by the floor
   ``max(abs(baseline_mean) * 1e-9, 1e-12)``: a constant baseline still detects any change of
   level (z becomes huge) and any noise (ratio becomes huge). The SHRINK test is skipped for a
   floored std: a spread cannot shrink below "no spread", so a metric that stays constant, like
   its baseline, is normal.
3. The std actually used (floored or not) is what transitions and statuses report as
   ``baseline_std``, so ``z_score`` and ``std_ratio`` can always be recomputed from the row.

>>> from detection.core.config import Baseline, Thresholds
>>> th = Thresholds(window_seconds=60, min_samples=2, z_threshold=3, std_ratio_threshold=2,
...                 enter_hits=1, exit_hits=1, allowed_lateness_seconds=0)
>>> score(10.5, 1.0, resolve_baseline(Baseline(mean=10.0, std=1.0, count=100)), th)
Score(z_score=0.5, std_ratio=1.0, violation=False)
>>> score(14.0, 1.0, resolve_baseline(Baseline(mean=10.0, std=1.0, count=100)), th).violation
True
>>> resolve_baseline(Baseline(mean=5.0, std=0.0, count=100))
ResolvedBaseline(mean=5.0, std=5e-09, std_floored=True)
>>> score(5.0, 0.0, resolve_baseline(Baseline(mean=5.0, std=0.0, count=100)), th)
Score(z_score=0.0, std_ratio=0.0, violation=False)
>>> resolve_baseline(None) is None
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

from detection.core.config import Baseline, Thresholds

__all__ = [
    "STD_FLOOR_ABSOLUTE",
    "STD_FLOOR_RELATIVE",
    "ResolvedBaseline",
    "Score",
    "resolve_baseline",
    "score",
]

STD_FLOOR_RELATIVE = 1e-9
STD_FLOOR_ABSOLUTE = 1e-12


class ResolvedBaseline(NamedTuple):
    """A baseline ready for scoring: finite mean, std > 0 (possibly the floor)."""

    mean: float
    std: float
    std_floored: bool


class Score(NamedTuple):
    z_score: float
    std_ratio: float
    violation: bool


def resolve_baseline(baseline: Baseline | None) -> ResolvedBaseline | None:
    """Apply the degenerate-baseline rule; ``None`` means "do not evaluate this key"."""
    if baseline is None:
        return None
    try:
        mean = float(baseline.mean)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(mean):
        return None
    try:
        std = float(baseline.std)
    except (TypeError, ValueError):
        std = math.nan
    if math.isfinite(std) and std > 0.0:
        return ResolvedBaseline(mean, std, False)
    return ResolvedBaseline(mean, max(abs(mean) * STD_FLOOR_RELATIVE, STD_FLOOR_ABSOLUTE), True)


def score(rolling_mean: float, rolling_std: float, baseline: ResolvedBaseline, thresholds: Thresholds) -> Score:
    """Scores and violation of one evaluation: the reference, used only by tests (the detector
    inlines the same arithmetic; only :func:`resolve_baseline` is called by it)."""
    z = abs(rolling_mean - baseline.mean) / baseline.std
    ratio = rolling_std / baseline.std
    violation = (
        z > thresholds.z_threshold
        or ratio > thresholds.std_ratio_threshold
        or (not baseline.std_floored and ratio < 1.0 / thresholds.std_ratio_threshold)
    )
    return Score(z, ratio, violation)
