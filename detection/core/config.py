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
from dataclasses import dataclass, field, fields

from detection.core.cusum import cusum_params

__all__ = ["DEFAULT_CUSUM_ENTER_HITS", "METHODS", "THRESHOLD_FIELDS", "Baseline", "Thresholds"]

METHODS = ("zscore", "cusum")
# enter_hits a new cusum row gets by default: the CUSUM already accumulates evidence.
DEFAULT_CUSUM_ENTER_HITS = 1


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
    - ``method``: ``"zscore"`` (the seed rule above) or ``"cusum"`` (see cusum.py; the window is
      still kept and reported, ``z_threshold``/``std_ratio_threshold`` are then unused).
    - ``target_false_alarms_per_100k`` in (0, 1000]: cusum's false-alarm rate per 100,000
      evaluations of a key whose data match its baseline; the decision thresholds derive from it.
    - ``mean_shift_sigma`` > 0: the mean shift (in baseline stds) the mean CUSUMs are tuned for.
    - ``std_up_ratio`` > 1 and 0 < ``std_down_ratio`` < 1: the spread changes the variance
      CUSUMs are tuned for.
    - ``version``: copied to transitions and statuses (``config_version``).

    This class is the one statement of the threshold fields and their rules: the Postgres
    model validates through it, the selectors return it, the API and the replay CLI derive
    their field lists from :data:`THRESHOLD_FIELDS`.
    """

    window_seconds: float
    min_samples: int
    z_threshold: float
    std_ratio_threshold: float
    enter_hits: int
    exit_hits: int
    allowed_lateness_seconds: float
    method: str = "zscore"
    target_false_alarms_per_100k: float = 0.5
    mean_shift_sigma: float = 1.0
    std_up_ratio: float = 2.0
    std_down_ratio: float = 0.5
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
        if self.method not in METHODS:
            fail("method", f"one of {', '.join(METHODS)}")
        if not (
            _is_number(self.target_false_alarms_per_100k)
            and math.isfinite(self.target_false_alarms_per_100k)
            and 0 < self.target_false_alarms_per_100k <= 1000
        ):
            fail("target_false_alarms_per_100k", "a finite number > 0 and <= 1000")
        if not (_is_number(self.mean_shift_sigma) and math.isfinite(self.mean_shift_sigma) and self.mean_shift_sigma > 0):
            fail("mean_shift_sigma", "a finite number > 0")
        if not (_is_number(self.std_up_ratio) and math.isfinite(self.std_up_ratio) and self.std_up_ratio > 1):
            fail("std_up_ratio", "a finite number > 1")
        if not (_is_number(self.std_down_ratio) and math.isfinite(self.std_down_ratio) and 0 < self.std_down_ratio < 1):
            fail("std_down_ratio", "a finite number > 0 and < 1")
        if not _is_int(self.version):
            fail("version", "an integer")
        window_ms = round(self.window_seconds * 1000)
        if window_ms < 1:
            fail("window_seconds", "at least 0.001 (one millisecond)")
        object.__setattr__(self, "window_ms", window_ms)
        object.__setattr__(self, "allowed_lateness_ms", round(self.allowed_lateness_seconds * 1000))

    @property
    def cusum_decision_thresholds(self) -> tuple[float, float, float, float]:
        """cusum's decision thresholds (mean_up, mean_down, std_up, std_down) derived from this
        row for a baseline without autocorrelation (each key's own are in its status)."""
        return cusum_params(
            target_false_alarms_per_100k=self.target_false_alarms_per_100k,
            mean_shift_sigma=self.mean_shift_sigma,
            std_up_ratio=self.std_up_ratio,
            std_down_ratio=self.std_down_ratio,
            autocorrelation=0.0,
        ).thresholds


@dataclass(frozen=True, slots=True)
class Baseline:
    """Long-term statistics of one key (``baseline_stats`` row): sample std, see moments.py."""

    mean: float
    std: float
    count: int
    autocorrelation: float | None = None  # lag-1, of the values in event-time order (cusum uses it)


# Every configurable threshold field, in declaration order (``version`` is not configured: it is
# the config version the values were read at).
THRESHOLD_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Thresholds) if f.init and f.name != "version"
)
