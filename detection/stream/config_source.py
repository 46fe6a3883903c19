"""Turns the Postgres configuration into the plain resolvers the pure core calls.

Loaded every CONFIG_REFRESH_SECONDS by the detector; two queries however many keys there are.
"""

from __future__ import annotations

from dataclasses import dataclass

from config_app.selectors import BaselineValue, ThresholdSet, baseline_map_get, threshold_set_get
from detection.core.config import Baseline, Thresholds


@dataclass(frozen=True)
class DetectionConfig:
    thresholds: ThresholdSet
    baselines: dict[tuple[str, str], BaselineValue]

    @property
    def version(self) -> int:
        return self.thresholds.version

    def thresholds_for(self, source_id: str, metric: str) -> Thresholds:
        """The key's thresholds. A key with no applicable rule gets UNRULED thresholds (the
        window still tracks its statistics) and no baseline, so it is never evaluated."""
        rule = self.thresholds.for_key(source_id, metric)
        return UNRULED if rule is None else _thresholds(rule, self.version)

    def baseline_for(self, source_id: str, metric: str) -> Baseline | None:
        if self.thresholds.for_key(source_id, metric) is None:
            return None
        value = self.baselines.get((source_id, metric))
        return None if value is None else Baseline(mean=value.mean, std=value.std, count=value.count)


# Placeholder for keys without any enabled rule: paired with "no baseline", never evaluated.
UNRULED = Thresholds(
    window_seconds=60.0, min_samples=2, z_threshold=1e9, std_ratio_threshold=1e9,
    enter_hits=1, exit_hits=1, allowed_lateness_seconds=0.0, version=0,
)

# Thresholds objects are shared between keys of the same rule and version, so a reload that
# changes nothing compares equal (and allocates nothing) per key.
_CACHE: dict = {}


def _thresholds(rule, version: int) -> Thresholds:
    key = (rule, version)
    th = _CACHE.get(key)
    if th is None:
        if len(_CACHE) > 10_000:
            _CACHE.clear()
        th = _CACHE[key] = Thresholds(
            window_seconds=rule.window_seconds,
            min_samples=rule.min_samples,
            z_threshold=rule.z_threshold,
            std_ratio_threshold=rule.std_ratio_threshold,
            enter_hits=rule.enter_hits,
            exit_hits=rule.exit_hits,
            allowed_lateness_seconds=rule.allowed_lateness_seconds,
            version=version,
        )
    return th


def detection_config_load() -> DetectionConfig:
    return DetectionConfig(thresholds=threshold_set_get(), baselines=baseline_map_get())
