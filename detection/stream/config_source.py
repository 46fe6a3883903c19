"""Turns the Postgres configuration into the plain resolvers the pure core calls.

Loaded every CONFIG_REFRESH_SECONDS by the detector; two queries however many keys there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config_app.selectors import ThresholdSet, baseline_map_get, threshold_set_get
from detection.core.config import Baseline, Thresholds


@dataclass(frozen=True)
class DetectionConfig:
    """One loaded configuration: the enabled threshold rules and every stored baseline."""

    thresholds: ThresholdSet
    baselines: dict[tuple[str, str], Baseline]
    # core Thresholds per rule scope, built once per load (keys share them)
    _by_scope: dict[tuple[str, str], Thresholds] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_scope = {scope: rule.thresholds for scope, rule in self.thresholds.rules.items()}
        object.__setattr__(self, "_by_scope", by_scope)

    @property
    def version(self) -> int:
        return self.thresholds.version

    def thresholds_for(self, source_id: str, metric: str) -> Thresholds:
        """The key's thresholds. A key with no applicable rule gets UNRULED thresholds (the
        window still tracks its statistics) and no baseline, so it is never evaluated."""
        rule = self.thresholds.for_key(source_id, metric)
        return UNRULED if rule is None else self._by_scope[(rule.source_id, rule.metric)]

    def baseline_for(self, source_id: str, metric: str) -> Baseline | None:
        if self.thresholds.for_key(source_id, metric) is None:
            return None
        return self.baselines.get((source_id, metric))


# Placeholder for keys without any enabled rule: paired with "no baseline", never evaluated.
UNRULED = Thresholds(
    window_seconds=60.0, min_samples=2, z_threshold=1e9, std_ratio_threshold=1e9,
    enter_hits=1, exit_hits=1, allowed_lateness_seconds=0.0, version=0,
)


def detection_config_load() -> DetectionConfig:
    return DetectionConfig(thresholds=threshold_set_get(), baselines=baseline_map_get())
