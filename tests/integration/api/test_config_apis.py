"""/thresholds, /baselines and /sources on real PostgreSQL rows (pytest-django)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config_app.models import BaselineStats, MetricThreshold, SourceMetadata
from tests.integration.api.builders import T0, THRESHOLD

pytestmark = pytest.mark.django_db


@pytest.fixture
def thresholds():
    return [
        MetricThreshold.objects.create(source_id="", metric="", **THRESHOLD),
        MetricThreshold.objects.create(source_id="", metric="cpu.user", **{**THRESHOLD, "z_threshold": 3.0}),
        MetricThreshold.objects.create(source_id="host-a", metric="cpu.user", **{**THRESHOLD, "z_threshold": 4.0}),
        MetricThreshold.objects.create(source_id="", metric="mem.used", enabled=False, **{**THRESHOLD, "window_seconds": 60.0}),
    ]


@pytest.fixture
def baselines():
    return [
        BaselineStats.objects.create(source_id="host-a", metric="cpu.user", count=101, mean=10.0, m2=400.0, window_start=T0, window_end=T0 + timedelta(hours=1), high_water_mark=T0),
        BaselineStats.objects.create(source_id="host-a", metric="mem.used", count=50, mean=512.0, m2=49.0),
        BaselineStats.objects.create(source_id="host-b", metric="cpu.user", count=1, mean=3.0, m2=0.0),
    ]


@pytest.fixture
def sources():
    return [
        SourceMetadata.objects.create(source_id="host-a", source_type="stable", first_seen=T0, last_seen=T0 + timedelta(hours=2)),
        SourceMetadata.objects.create(source_id="host-b", source_type="drift", first_seen=T0, last_seen=T0 + timedelta(hours=1), active=False),
        SourceMetadata.objects.create(source_id="sensor-1", source_type="dynamic"),
    ]


# --- /thresholds ---------------------------------------------------------------------------------
def test_thresholds_list_content(api, thresholds):
    response = api.get("/thresholds")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and body["next"] is None and body["previous"] is None
    assert [r["scope"] for r in body["results"]] == ["default", "*/cpu.user", "host-a/cpu.user", "*/mem.used"]
    row = body["results"][2]
    assert row["source_id"] == "host-a" and row["metric"] == "cpu.user"
    assert row["z_threshold"] == 4.0 and row["window_seconds"] == 30.0 and row["min_samples"] == 10
    assert row["enter_hits"] == 3 and row["exit_hits"] == 5 and row["allowed_lateness_seconds"] == 5.0
    assert row["enabled"] is True and row["id"] == thresholds[2].pk
    assert set(row) >= {"created_at", "updated_at", "std_ratio_threshold"}


@pytest.mark.parametrize(
    ("params", "scopes"),
    [
        ({"metric": "cpu.user"}, ["*/cpu.user", "host-a/cpu.user"]),
        ({"source_id": "host-a"}, ["host-a/cpu.user"]),
        ({"source_id": ""}, ["default", "*/cpu.user", "*/mem.used"]),  # blank = rows for any source
        ({"metric": ""}, ["default"]),
        ({"metric_prefix": "mem"}, ["*/mem.used"]),
        ({"enabled": "false"}, ["*/mem.used"]),
        ({"enabled": "true", "metric_prefix": "cpu"}, ["*/cpu.user", "host-a/cpu.user"]),
        ({"ordering": "-z_threshold"}, ["host-a/cpu.user", "*/cpu.user", "default", "*/mem.used"]),
        ({"ordering": "-window_seconds"}, ["*/mem.used", "default", "*/cpu.user", "host-a/cpu.user"]),
    ],
)
def test_thresholds_filters_and_ordering(api, thresholds, params, scopes):
    assert [r["scope"] for r in api.get("/thresholds", params).json()["results"]] == scopes


def test_thresholds_pagination(api, thresholds):
    first = api.get("/thresholds/", {"limit": 3}).json()
    assert len(first["results"]) == 3 and first["count"] == 4 and first["previous"] is None
    second = api.get(first["next"]).json()
    assert [r["scope"] for r in second["results"]] == ["*/mem.used"]
    assert second["next"] is None and second["previous"]


# --- /baselines ----------------------------------------------------------------------------------
def test_baselines_list_content(api, baselines):
    body = api.get("/baselines").json()
    assert body["count"] == 3
    assert [(r["source_id"], r["metric"]) for r in body["results"]] == [
        ("host-a", "cpu.user"), ("host-a", "mem.used"), ("host-b", "cpu.user"),
    ]
    first = body["results"][0]
    assert first["count"] == 101 and first["mean"] == 10.0 and first["std"] == pytest.approx(2.0)
    assert first["window_start"] == "2024-05-01T12:00:00Z" and first["window_end"] == "2024-05-01T13:00:00Z"
    assert first["high_water_mark"] == "2024-05-01T12:00:00Z"
    assert body["results"][2]["std"] == 0.0  # one event: no spread yet
    assert body["results"][1]["window_start"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_id": "host-b"}, [("host-b", "cpu.user")]),
        ({"metric": "cpu.user"}, [("host-a", "cpu.user"), ("host-b", "cpu.user")]),
        ({"metric_prefix": "me"}, [("host-a", "mem.used")]),
        ({"ordering": "-count"}, [("host-a", "cpu.user"), ("host-a", "mem.used"), ("host-b", "cpu.user")]),
        ({"ordering": "mean"}, [("host-b", "cpu.user"), ("host-a", "cpu.user"), ("host-a", "mem.used")]),
        ({"limit": 1, "offset": 1}, [("host-a", "mem.used")]),
    ],
)
def test_baselines_filters_ordering_pages(api, baselines, params, expected):
    body = api.get("/baselines", params).json()
    assert [(r["source_id"], r["metric"]) for r in body["results"]] == expected


# --- /sources ------------------------------------------------------------------------------------
def test_sources_list_content(api, sources):
    body = api.get("/sources").json()
    assert body["count"] == 3
    assert body["results"][0] == {
        "id": sources[0].pk,
        "source_id": "host-a",
        "source_type": "stable",
        "first_seen": "2024-05-01T12:00:00Z",
        "last_seen": "2024-05-01T14:00:00Z",
        "active": True,
    }
    assert body["results"][2]["first_seen"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"active": "true"}, ["host-a", "sensor-1"]),
        ({"active": "false"}, ["host-b"]),
        ({"source_type": "drift"}, ["host-b"]),
        ({"source_type": "dynamic", "active": "true"}, ["sensor-1"]),
        ({"source_id": "host-a"}, ["host-a"]),
        ({"source_id_prefix": "host"}, ["host-a", "host-b"]),
        ({"ordering": "-source_id"}, ["sensor-1", "host-b", "host-a"]),
        ({"ordering": "-last_seen"}, ["host-a", "host-b", "sensor-1"]),
        ({"ordering": "source_type"}, ["host-b", "sensor-1", "host-a"]),
    ],
)
def test_sources_filters_and_ordering(api, sources, params, expected):
    assert [r["source_id"] for r in api.get("/sources", params).json()["results"]] == expected


# --- 400s ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/thresholds", {"enabled": "maybe"}, "enabled"),
        ("/thresholds", {"ordering": "scope"}, "ordering"),
        ("/thresholds", {"limit": "100000"}, "limit"),
        ("/thresholds", {"metric_prefix": ""}, "metric_prefix"),
        ("/baselines", {"ordering": "std"}, "ordering"),
        ("/baselines", {"offset": "-3"}, "offset"),
        ("/baselines", {"source_id": "\x00"}, "source_id"),
        ("/sources", {"source_type": "virtual"}, "source_type"),
        ("/sources", {"active": "2"}, "active"),
        ("/sources", {"limit": "1.5"}, "limit"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(api, path, params, parameter):
    response = api.get(path, params)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]
