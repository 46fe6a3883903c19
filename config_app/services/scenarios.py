"""Writes of drift-scenario runs (the ground truth the drift controller records).

A controller waits minutes between writes, so each write first drops a connection the server
closed meanwhile (not inside a transaction, e.g. a test's, which must keep its connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import close_old_connections, connection

from config_app.models import DriftScenario, ScenarioRun, ScenarioRunTarget


def _db_ready() -> None:
    if not connection.in_atomic_block:
        close_old_connections()


def scenario_run_start(
    *,
    scenario: DriftScenario,
    started_at: datetime,
    time_scale: float,
    targets: Sequence[tuple[str, str, str, float, datetime, datetime]],
) -> tuple[ScenarioRun, list[ScenarioRunTarget]]:
    """Record a running run and its planned targets ``(source_id, metric, kind, magnitude,
    planned_start, planned_end)``; returns the run and the target rows in the given order."""
    _db_ready()
    run = ScenarioRun.objects.create(
        scenario=scenario, started_at=started_at, status=ScenarioRun.Status.RUNNING,
        seed=scenario.seed, time_scale=time_scale,
    )
    rows = [
        ScenarioRunTarget(run=run, source_id=source_id, metric=metric, kind=kind, magnitude=magnitude,
                          planned_start=planned_start, planned_end=planned_end)
        for source_id, metric, kind, magnitude, planned_start, planned_end in targets
    ]
    ScenarioRunTarget.objects.bulk_create(rows)
    return run, rows


def scenario_target_acknowledged(target: ScenarioRunTarget, *, started: bool, at: datetime) -> None:
    """Record when the broker acknowledged the target's start (``started``) or stop command."""
    _db_ready()
    field = "actual_start" if started else "actual_end"
    setattr(target, field, at)
    target.save(update_fields=[field])


def scenario_run_finish(run: ScenarioRun, *, status: str, errors: Sequence[str], finished_at: datetime) -> None:
    _db_ready()
    run.status = status
    run.error = "\n".join(errors)
    run.finished_at = max(finished_at, run.started_at)
    run.save(update_fields=["status", "error", "finished_at"])
