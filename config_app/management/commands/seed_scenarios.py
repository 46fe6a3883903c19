"""Load the demo drift scenario idempotently (a second run changes nothing).

The "demo" scenario targets the sources of ``run_producer --kind drift`` (defaults: drift-000 ..
drift-004, metrics cpu and latency_ms):

- drift-000/cpu: mean shift of +4 sigma from +30 s for 60 s;
- drift-001/latency_ms: noise spread x4 (std ratio ~4 > the demo's 2.5) from +60 s for 45 s.

Offsets count from the moment ``drift_controller --scenario demo`` starts; ``--time-scale``
shrinks them (e.g. 0.1 for a 10 s run). Start the drift producer first and let the baselines
form before running the controller.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from config_app.models import DriftKind, DriftScenario, ScenarioStep

DEMO_SCENARIO = {
    "name": "demo",
    "description": (
        "Two sudden changes on the drift producer's keys: drift-000/cpu mean +4 sigma (t+30 s, 60 s), "
        "drift-001/latency_ms noise spread x4 (t+60 s, 45 s)."
    ),
    "seed": 42,
    "steps": [
        {"source_id": "drift-000", "metric": "cpu", "kind": DriftKind.MEAN_SHIFT, "magnitude": 4.0,
         "start_offset_seconds": 30.0, "duration_seconds": 60.0},
        {"source_id": "drift-001", "metric": "latency_ms", "kind": DriftKind.VARIANCE, "magnitude": 4.0,
         "start_offset_seconds": 60.0, "duration_seconds": 45.0},
    ],
}

_STEP_FIELDS = ("source_id", "metric", "kind", "magnitude", "start_offset_seconds", "duration_seconds")


def scenario_seed(definition: dict) -> tuple[DriftScenario, bool]:
    """Create or bring a scenario to ``definition``; returns (scenario, changed).

    ``enabled`` is only set when the scenario is created (a scenario disabled in the admin
    stays disabled).
    """
    with transaction.atomic():
        scenario = DriftScenario.objects.select_for_update().filter(name=definition["name"]).first()
        changed = scenario is None
        if scenario is None:
            scenario = DriftScenario(name=definition["name"], enabled=True)
        for field in ("description", "seed"):
            if getattr(scenario, field) != definition[field]:
                setattr(scenario, field, definition[field])
                changed = True
        if changed:
            scenario.full_clean()
            scenario.save()
        have = sorted(tuple(row) for row in scenario.steps.values_list(*_STEP_FIELDS))
        want = sorted(tuple(step[f] for f in _STEP_FIELDS) for step in definition["steps"])
        if have != want:
            scenario.steps.all().delete()
            for step in definition["steps"]:
                row = ScenarioStep(scenario=scenario, **step)
                row.full_clean()
                row.save()
            changed = True
    return scenario, changed


class Command(BaseCommand):
    help = "Seed the demo drift scenario ('demo'). Safe to run any number of times."

    def handle(self, *args, **options):
        scenario, changed = scenario_seed(DEMO_SCENARIO)
        verb = "created/updated" if changed else "unchanged"
        self.stdout.write(f"seed_scenarios: scenario {scenario.name!r} {verb} ({scenario.steps.count()} steps)")
