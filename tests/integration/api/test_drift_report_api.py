"""/drift/report and /dashboard/report against real Postgres (ground truth) and chDB (transitions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from config_app.models import DriftScenario, ScenarioRun, ScenarioRunTarget, SourceMetadata
from detection.clickhouse.writers import write_drift_events
from detection.core.detector import Transition

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _start(i: int, source_id: str, at: datetime) -> Transition:
    return Transition(1000 + i, source_id, "cpu", "DRIFT_START", _ms(at), 5.0, 1.0, 30, 0.0, 1.0, 5.0, 1.0, 7, 1)


@pytest.fixture
def ground_truth(clickhouse):
    SourceMetadata.objects.create(source_id="drift-000", source_type="drift")
    SourceMetadata.objects.create(source_id="drift-001", source_type="drift")
    SourceMetadata.objects.create(source_id="stable-000", source_type="stable")
    scenario = DriftScenario.objects.create(name="t", seed=1)
    run = ScenarioRun.objects.create(scenario=scenario, started_at=T0, finished_at=T0 + timedelta(minutes=5),
                                     status="completed", seed=1)
    for source_id, offset in (("drift-000", 30), ("drift-001", 60)):
        ScenarioRunTarget.objects.create(
            run=run, source_id=source_id, metric="cpu", kind="mean_shift", magnitude=4.0,
            planned_start=T0 + timedelta(seconds=offset), planned_end=T0 + timedelta(seconds=offset + 60),
            actual_start=T0 + timedelta(seconds=offset), actual_end=T0 + timedelta(seconds=offset + 60),
        )
    write_drift_events(clickhouse, settings.CLICKHOUSE_DATABASE, [
        _start(1, "drift-000", T0 + timedelta(seconds=42)),   # detected after 12 s
        _start(2, "stable-000", T0 + timedelta(seconds=100)),  # a false start
    ], detected_at_ms=_ms(T0 + timedelta(seconds=101)))


def test_report_matches_ground_truth(client, ground_truth):
    response = client.get("/drift/report", {"since": T0.isoformat(), "until": (T0 + timedelta(minutes=10)).isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert body["totals"] == {"injected": 2, "detected": 1, "missed": 1, "false_starts": 1, "repeated_starts": 0,
                              "median_delay_seconds": 12.0, "events_produced": None, "events_processed": 0}
    assert [(d["source_id"], d["detected"]) for d in body["injected"]] == [("drift-000", True), ("drift-001", False)]
    assert body["false_starts"][0]["source_type"] == "stable"
    assert body["by_source_type"]["stable"]["false_starts"] == 1


def test_report_rejects_bad_ranges(client, clickhouse):
    assert client.get("/drift/report").status_code == 400
    response = client.get("/drift/report", {"since": "2024-05-01T12:00:00Z", "until": "2024-05-01T11:00:00Z"})
    assert response.status_code == 400 and "until" in response.json()
    assert client.get("/drift/report", {"since": "yesterday"}).status_code == 400
    assert client.post("/drift/report").status_code == 405


def test_dashboard_report_page_renders(client, ground_truth):
    response = client.get("/dashboard/report/", {"minutes": 60})
    assert response.status_code == 200
    assert "Detection report" in response.content.decode()


def test_report_since_in_the_future_without_until_is_a_400_not_a_500(client, clickhouse):
    response = client.get("/drift/report", {"since": "2299-01-01T00:00:00Z"})
    assert response.status_code == 400 and "since" in response.json()
    response = client.get("/drift/report", {"since": "2299-12-30T00:00:00Z", "until": "2299-12-31T00:00:00Z",
                                            "grace_seconds": 86400})
    assert response.status_code == 200
