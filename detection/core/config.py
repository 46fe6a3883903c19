"""Plain, validated configuration values handed to the core (built by the selectors from Postgres).

>>> Thresholds(window_seconds=60, min_samples=10, z_threshold=3, std_ratio_threshold=2,
...            enter_hits=3, exit_hits=5, allowed_lateness_seconds=5).window_ms
60000
>>> Thresholds(window_seconds=0, min_samples=10, z_threshold=3, std_ratio_threshold=2,
...            enter_hits=3, exit_hits=5, allowed_lateness_seconds=5)
Traceback (most recent call last):
...
ValueError: window_seconds must be a finite number > 0, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Baseline", "Thresholds"]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Per-metric detection thresholds (``metric_thresholds`` row).

    - ``window_seconds`` > 0: event-time window length (rounded to whole milliseconds).
    - ``min_samples`` >= 2: events needed in the window before it is evaluated.
    - ``z_threshold`` > 0: violation when ``|rolling_mean - baseline_mean| / baseline_std`` exceeds it.
    - ``std_ratio_threshold`` > 1: violation when ``rolling_std / baseline_std`` exceeds it or is
      below its inverse.
    - ``enter_hits`` >= 1 consecutive violations start drift; ``exit_hits`` >= 1 consecutive
      normal evaluations end it.
    - ``allowed_lateness_seconds`` >= 0: how far behind the key's newest event time an event may
      be and still be placed in the window.
    - ``version``: copied to transitions and statuses (``config_version``).
    """

    window_seconds: float
    min_samples: int
    z_threshold: float
    std_ratio_threshold: float
    enter_hits: int
    exit_hits: int
    allowed_lateness_seconds: float
    version: int = 0
    window_ms: int = field(init=False, repr=False, compare=False)
    allowed_lateness_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")

        if not (_is_number(self.window_seconds) and math.isfinite(self.window_seconds) and self.window_seconds > 0):
            fail("window_seconds", "a finite number > 0")
        if not (_is_int(self.min_samples) and self.min_samples >= 2):
            fail("min_samples", "an integer >= 2")
        if not (_is_number(self.z_threshold) and math.isfinite(self.z_threshold) and self.z_threshold > 0):
            fail("z_threshold", "a finite number > 0")
        if not (
            _is_number(self.std_ratio_threshold)
            and math.isfinite(self.std_ratio_threshold)
            and self.std_ratio_threshold > 1
        ):
            fail("std_ratio_threshold", "a finite number > 1")
        if not (_is_int(self.enter_hits) and self.enter_hits >= 1):
            fail("enter_hits", "an integer >= 1")
        if not (_is_int(self.exit_hits) and self.exit_hits >= 1):
            fail("exit_hits", "an integer >= 1")
        if not (
            _is_number(self.allowed_lateness_seconds)
            and math.isfinite(self.allowed_lateness_seconds)
            and self.allowed_lateness_seconds >= 0
        ):
            fail("allowed_lateness_seconds", "a finite number >= 0")
        if not _is_int(self.version):
            fail("version", "an integer")
        window_ms = round(self.window_seconds * 1000)
        if window_ms < 1:
            fail("window_seconds", "at least 0.001 (one millisecond)")
        object.__setattr__(self, "window_ms", window_ms)
        object.__setattr__(self, "allowed_lateness_ms", round(self.allowed_lateness_seconds * 1000))


@dataclass(frozen=True, slots=True)
class Baseline:
    """Long-term statistics of one key (``baseline_stats`` row): sample std, see moments.py."""

    mean: float
    std: float
    count: int
