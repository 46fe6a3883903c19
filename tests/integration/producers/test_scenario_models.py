"""Drift scenario models on the real Postgres: validation messages and CHECK constraints."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from config_app.models import DriftScenario, ScenarioRun, ScenarioRunTarget, ScenarioStep

pytestmark = pytest.mark.django_db

GOOD_STEP = dict(source_id="drift-000", metric="cpu", kind="mean_shift", magnitude=4.0,
                 start_offset_seconds=30.0, duration_seconds=60.0)
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def scenario():
    return DriftScenario.objects.create(name="s", seed=1)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (dict(magnitude=0.0), "magnitude", "greater than 0"),
        (dict(magnitude=-2.0), "magnitude", "greater than 0"),
        (dict(kind="variance", magnitude=1.0), "magnitude", "changes nothing"),
        (dict(magnitude=float("inf")), "magnitude", "finite"),
        (dict(duration_seconds=0.0), "duration_seconds", "greater than 0"),
        (dict(start_offset_seconds=-1.0), "start_offset_seconds", "greater than or equal to 0"),
        (dict(kind="trend"), "kind", "not a valid choice"),
        (dict(source_id=""), "source_id", "cannot be blank"),
        (dict(metric=" cpu"), "metric", "spaces"),
    ],
)
def test_bad_steps_get_a_clear_message(scenario, change, field, message):
    step = ScenarioStep(scenario=scenario, **{**GOOD_STEP, **change})
    with pytest.raises(ValidationError) as info:
        step.full_clean()
    assert field in info.value.message_dict
    assert message in " ".join(info.value.message_dict[field])


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        (dict(magnitude=0.0), "scenario_steps_magnitude_positive"),
        (dict(duration_seconds=-5.0), "scenario_steps_duration_positive"),
        (dict(start_offset_seconds=-0.5), "scenario_steps_offset_non_negative"),
        (dict(kind="variance", magnitude=1.0), "scenario_steps_variance_factor_not_1"),
        (dict(kind="trend"), "scenario_steps_kind_valid"),
        (dict(metric=""), "scenario_steps_metric_not_empty"),
    ],
)
def test_the_database_refuses_bad_steps_even_without_validation(scenario, change, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        ScenarioStep.objects.create(scenario=scenario, **{**GOOD_STEP, **change})


def test_variance_factors_other_than_one_are_fine(scenario):
    for factor in (0.5, 4.0):
        step = ScenarioStep(scenario=scenario, **{**GOOD_STEP, "kind": "variance", "magnitude": factor})
        step.full_clean()
        step.save()
    assert scenario.steps.count() == 2


def test_scenario_names_are_unique():
    DriftScenario.objects.create(name="demo")
    with pytest.raises(ValidationError, match="already exists"):
        DriftScenario(name="demo").full_clean()


def test_runs_keep_their_ground_truth_consistent(scenario):
    with pytest.raises(IntegrityError, match="scenario_runs_finished_iff_not_running"), transaction.atomic():
        ScenarioRun.objects.create(scenario=scenario, started_at=T0, status="completed", seed=1)
    with pytest.raises(IntegrityError, match="scenario_runs_finished_after_start"), transaction.atomic():
        ScenarioRun.objects.create(scenario=scenario, started_at=T0, finished_at=T0 - dt.timedelta(seconds=1),
                                   status="failed", seed=1)
    run = ScenarioRun.objects.create(scenario=scenario, started_at=T0, seed=1)
    target = dict(run=run, source_id="a", metric="cpu", kind="mean_shift", magnitude=1.0,
                  planned_start=T0, planned_end=T0 + dt.timedelta(seconds=1))
    with pytest.raises(IntegrityError, match="scenario_run_targets_planned_ordered"), transaction.atomic():
        ScenarioRunTarget.objects.create(**{**target, "planned_end": T0})
    with pytest.raises(IntegrityError, match="scenario_run_targets_actual_ordered"), transaction.atomic():
        ScenarioRunTarget.objects.create(**target, actual_end=T0)
    ScenarioRunTarget.objects.create(**target, actual_start=T0, actual_end=T0 + dt.timedelta(seconds=2))
    # a scenario with recorded runs cannot be deleted (its ground truth would go with it)
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        scenario.delete()
