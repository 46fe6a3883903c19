"""Reads of sources and drift scenarios by other apps (producers, the report, the demo).

Kept apart from :mod:`config_app.selectors` (thresholds and baselines, read by the detector).
"""

from __future__ import annotations

from datetime import datetime

from config_app.models import DriftScenario, ScenarioRunTarget, ScenarioStep, SourceMetadata


def source_types_get() -> dict[str, str]:
    """source_id -> source_type of every registered source."""
    return dict(SourceMetadata.objects.values_list("source_id", "source_type"))


def scenario_get(name: str) -> DriftScenario:
    """The scenario called ``name``; raises ``DriftScenario.DoesNotExist`` if there is none."""
    return DriftScenario.objects.get(name=name)


def scenario_names_get() -> list[str]:
    return list(DriftScenario.objects.order_by("name").values_list("name", flat=True))


def scenario_steps_get(scenario: DriftScenario) -> list[ScenarioStep]:
    """The scenario's steps in their stored order (start offset, then id)."""
    return list(scenario.steps.order_by("start_offset_seconds", "id"))


def scenario_targets_started_between(since: datetime, until: datetime) -> list[ScenarioRunTarget]:
    """Recorded drift injections whose start was acknowledged in [since, until), oldest first."""
    return list(ScenarioRunTarget.objects.filter(actual_start__gte=since, actual_start__lt=until).order_by("actual_start"))
