"""Reads of the configuration (HackSoft 'selectors'): plain values out, no ORM objects leak.

The detector loads a :class:`ThresholdSet` every CONFIG_REFRESH_SECONDS and resolves each key
against it in memory, so a refresh is one query however many keys there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from config_app.models import ANY, ConfigVersion, MetricThreshold
from detection.core.config import Baseline
from detection.core.moments import sample_std

THRESHOLD_FIELDS = (
    "window_seconds",
    "min_samples",
    "z_threshold",
    "std_ratio_threshold",
    "enter_hits",
    "exit_hits",
    "allowed_lateness_seconds",
    "severity",
)


@dataclass(frozen=True)
class ThresholdRule:
    source_id: str
    metric: str
    window_seconds: float
    min_samples: int
    z_threshold: float
    std_ratio_threshold: float
    enter_hits: int
    exit_hits: int
    allowed_lateness_seconds: float
    severity: str = "warning"  # the alert's severity label (not a detection parameter)


@dataclass(frozen=True)
class ThresholdSet:
    """The enabled threshold rows at one config version, with the precedence rule."""

    version: int
    rules: dict[tuple[str, str], ThresholdRule]

    def for_key(self, source_id: str, metric: str) -> ThresholdRule | None:
        """Most specific enabled rule: (source, metric) > (any source, metric) > default."""
        rules = self.rules
        return (
            rules.get((source_id, metric))
            or rules.get((ANY, metric))
            or rules.get((ANY, ANY))
        )


def config_version_get() -> int:
    row = ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def threshold_set_get(*, attempts: int = 5) -> ThresholdSet:
    """All enabled rules and the version they belong to.

    Optimistic consistency: the version is read before and after the rows, and the read is
    retried if a change slipped in between (works inside any surrounding transaction).
    """
    for _ in range(attempts):
        version = config_version_get()
        rows = MetricThreshold.objects.filter(enabled=True).values("source_id", "metric", *THRESHOLD_FIELDS)
        rules = {(r["source_id"], r["metric"]): ThresholdRule(**r) for r in rows}
        if config_version_get() == version:
            return ThresholdSet(version=version, rules=rules)
    raise RuntimeError("metric_thresholds kept changing while being read; try again")


def baseline_map_get() -> dict[tuple[str, str], Baseline]:
    """Every stored baseline as plain values, keyed by (source_id, metric): one query."""
    from config_app.models import BaselineStats

    out = {}
    for source_id, metric, count, mean, m2 in BaselineStats.objects.values_list("source_id", "metric", "count", "mean", "m2"):
        out[(source_id, metric)] = Baseline(mean=mean, std=sample_std(count, m2), count=count)
    return out


def source_type_map_get() -> dict[str, str]:
    """source_id -> source_type of every registered source: one query."""
    from config_app.models import SourceMetadata

    return dict(SourceMetadata.objects.values_list("source_id", "source_type"))
