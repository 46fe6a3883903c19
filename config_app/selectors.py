"""Reads of the configuration (HackSoft 'selectors'): plain values out, no ORM objects leak.

The detector loads a :class:`ThresholdSet` every CONFIG_REFRESH_SECONDS and resolves each key
against it in memory, so a refresh is one query however many keys there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from config_app.models import ANY, ConfigVersion, MetricThreshold
from detection.core.config import THRESHOLD_FIELDS, Baseline, Thresholds
from detection.core.moments import sample_std

__all__ = ["THRESHOLD_FIELDS", "ThresholdRule", "ThresholdSet", "baseline_map_get", "config_version_get", "threshold_set_get"]


@dataclass(frozen=True)
class ThresholdRule:
    """One enabled row: its scope and the core's :class:`Thresholds` (at the set's version).

    Threshold values read through (``rule.z_threshold``), so no field is spelled here.
    """

    source_id: str
    metric: str
    thresholds: Thresholds
    severity: str = "warning"  # the alert's severity label (not a detection parameter)

    def __getattr__(self, name: str):
        if name in THRESHOLD_FIELDS or name == "cusum_decision_thresholds":
            return getattr(self.thresholds, name)
        raise AttributeError(name)


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


def default_threshold_method_get() -> str | None:
    """The method of the default threshold row, None if there is no such row."""
    return MetricThreshold.objects.filter(source_id=ANY, metric=ANY).values_list("method", flat=True).first()


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
        rows = MetricThreshold.objects.filter(enabled=True).values("source_id", "metric", "severity", *THRESHOLD_FIELDS)
        rules = {
            (r["source_id"], r["metric"]): ThresholdRule(
                r["source_id"], r["metric"], Thresholds(**{f: r[f] for f in THRESHOLD_FIELDS}, version=version),
                severity=r["severity"],
            )
            for r in rows
        }
        if config_version_get() == version:
            return ThresholdSet(version=version, rules=rules)
    raise RuntimeError("metric_thresholds kept changing while being read; try again")


def baseline_fingerprint_get() -> tuple:
    """A summary of ``baseline_stats`` that changes whenever a row is added, removed or changed
    (row count, sums of the statistics, newest ``updated_at``): one aggregate on the server, so a
    reader can skip re-reading thousands of unchanged baselines."""
    from django.db.models import Count, Max, Sum

    from config_app.models import BaselineStats

    summary = BaselineStats.objects.aggregate(
        rows=Count("id"), count=Sum("count"), mean=Sum("mean"), m2=Sum("m2"), rho=Sum("autocorrelation"),
        updated_at=Max("updated_at"))
    return tuple(summary.values())


def baseline_map_get() -> dict[tuple[str, str], Baseline]:
    """Every stored baseline as plain values, keyed by (source_id, metric): one query."""
    from config_app.models import BaselineStats

    out = {}
    rows = BaselineStats.objects.values_list("source_id", "metric", "count", "mean", "m2", "autocorrelation")
    for source_id, metric, count, mean, m2, rho in rows:
        out[(source_id, metric)] = Baseline(mean=mean, std=sample_std(count, m2), count=count, autocorrelation=rho)
    return out
