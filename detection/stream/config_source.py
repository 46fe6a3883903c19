"""Turns the Postgres configuration into the plain resolvers the pure core calls.

Checked every CONFIG_REFRESH_SECONDS by the detector (:class:`DetectionConfigLoader`): two small
queries (the config version and a summary of the baselines) and, only if either changed, the
full load (two queries however many keys there are).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config_app.selectors import (
    ThresholdSet,
    baseline_fingerprint_get,
    baseline_map_get,
    config_version_get,
    threshold_set_get,
)
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


class DetectionConfigLoader:
    """:func:`detection_config_load`, but None when nothing changed since the last load.

    Re-reading 10,000 unchanged baselines every period cost 50-150 ms of Python (holding the
    GIL the consumer thread needs) and a comparison on the consumer thread. The fingerprint is
    read before the load, so a change that lands during the load is seen again next time (one
    extra load, never a missed change).
    """

    def __init__(self) -> None:
        self._fingerprint: tuple | None = None

    def __call__(self) -> DetectionConfig | None:
        fingerprint = (config_version_get(), baseline_fingerprint_get())
        if fingerprint == self._fingerprint:
            return None
        config = detection_config_load()
        self._fingerprint = fingerprint
        return config
