"""The admin for drift scenarios (steps inline, overlap validated) and read-only runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from config_app.models import DriftScenario, ScenarioRun, ScenarioRunTarget, ScenarioStep

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def form_data(name, steps):
    data = {
        "name": name, "description": "", "seed": "3", "enabled": "on",
        "steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
    }
    for i, step in enumerate(steps):
        for field, value in step.items():
            data[f"steps-{i}-{field}"] = str(value)
    return data


STEP_A = dict(source_id="drift-000", metric="cpu", kind="mean_shift", magnitude=4, start_offset_seconds=30,
              duration_seconds=60)


def test_scenario_with_inline_steps_is_saved(admin_client):
    step_b = dict(STEP_A, source_id="drift-001", kind="variance", magnitude=4)
    response = admin_client.post(reverse("admin:config_app_driftscenario_add"), form_data("mine", [STEP_A, step_b]))
    assert response.status_code == 302, response.content.decode()[:2000]
    scenario = DriftScenario.objects.get(name="mine")
    assert scenario.steps.count() == 2 and scenario.seed == 3
    changelist = admin_client.get(reverse("admin:config_app_driftscenario_changelist")).content.decode()
    assert "mine" in changelist
    assert admin_client.get(reverse("admin:config_app_driftscenario_change", args=[scenario.pk])).status_code == 200


def test_overlapping_and_invalid_steps_are_shown_not_saved(admin_client):
    overlapping = dict(STEP_A, start_offset_seconds=60)
    response = admin_client.post(reverse("admin:config_app_driftscenario_add"), form_data("bad", [STEP_A, overlapping]))
    assert response.status_code == 200
    assert "overlap on drift-000/cpu" in response.content.decode()
    response = admin_client.post(reverse("admin:config_app_driftscenario_add"),
                                 form_data("bad", [dict(STEP_A, kind="variance", magnitude=1)]))
    assert response.status_code == 200
    assert "A variance factor of 1 changes nothing." in response.content.decode()
    assert not DriftScenario.objects.filter(name="bad").exists()
    assert not ScenarioStep.objects.exists()


def test_runs_are_read_only_with_their_targets_inline(admin_client):
    scenario = DriftScenario.objects.create(name="demo")
    run = ScenarioRun.objects.create(scenario=scenario, started_at=T0, finished_at=T0 + dt.timedelta(seconds=9),
                                     status="completed", seed=4)
    ScenarioRunTarget.objects.create(run=run, source_id="drift-000", metric="cpu", kind="mean_shift", magnitude=4.0,
                                     planned_start=T0, planned_end=T0 + dt.timedelta(seconds=5),
                                     actual_start=T0, actual_end=T0 + dt.timedelta(seconds=5))
    changelist = admin_client.get(reverse("admin:config_app_scenariorun_changelist"))
    assert changelist.status_code == 200 and "completed" in changelist.content.decode()
    page = admin_client.get(reverse("admin:config_app_scenariorun_change", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "drift-000" in html and 'name="_save"' not in html  # view only
    assert admin_client.get(reverse("admin:config_app_scenariorun_add")).status_code == 403
    response = admin_client.post(reverse("admin:config_app_scenariorun_change", args=[run.pk]), {"status": "failed"})
    assert response.status_code == 403
    assert ScenarioRun.objects.get(pk=run.pk).status == "completed"
