"""/drift/series: raw values (deduplicated) with rolling mean, baseline band and drift periods."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from config_app.models import BaselineHistory, BaselineStats, MetricThreshold
from tests.integration.api.builders import T0, THRESHOLD, event_row, raw_row

pytestmark = pytest.mark.django_db

KEY = {"source_id": "host-a", "metric": "cpu.user"}


def at(seconds):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def key_data(ch_insert):
    MetricThreshold.objects.create(source_id="", metric="cpu.user", **{**THRESHOLD, "window_seconds": 10.0, "z_threshold": 2.0})
    BaselineStats.objects.create(count=101, mean=10.0, m2=100.0, **KEY)  # std = 1
    raw = [raw_row(1000 + s, "host-a", "cpu.user", 10.0 if s < 20 else 20.0, at(s)) for s in range(30)]
    ch_insert("raw_events", raw)
    ch_insert("raw_events", raw)  # duplicates (a replayed ingest) must not double count
    ch_insert("raw_events", [raw_row(1, "host-b", "cpu.user", 99.0, at(3))])  # another key
    ch_insert(
        "drift_events",
        [
            event_row(1, "host-a", "cpu.user", "DRIFT_START", at=at(22)),
            event_row(2, "host-a", "cpu.user", "DRIFT_END", at=at(27)),
            event_row(3, "host-a", "cpu.user", "DRIFT_START", at=at(29)),
            event_row(4, "host-b", "cpu.user", "DRIFT_START", at=at(1)),
        ],
    )
    return raw


def test_series_points_rolling_mean_band_and_periods(api, key_data):
    response = api.get("/drift/series", KEY)
    assert response.status_code == 200
    body = response.json()
    assert body["source_id"] == "host-a" and body["metric"] == "cpu.user"
    points = body["points"]
    assert len(points) == 30
    assert points[0] == {"event_time": "2024-05-01T12:00:00Z", "value": 10.0, "rolling_mean": 10.0, "cusum_score": None}
    assert points[-1]["event_time"] == "2024-05-01T12:00:29Z"
    by_second = {i: p for i, p in enumerate(points)}
    assert by_second[19]["rolling_mean"] == pytest.approx(10.0)
    assert by_second[25]["rolling_mean"] == pytest.approx((4 * 10 + 6 * 20) / 10)  # window (15 s, 25 s]
    assert by_second[29]["rolling_mean"] == pytest.approx(20.0)
    assert body["baseline"] == {"count": 101, "mean": 10.0, "std": 1.0}
    assert body["baseline_history"] == []
    assert body["band"] == {"lower": 8.0, "upper": 12.0}  # mean ± z_threshold × std
    assert body["threshold"]["z_threshold"] == 2.0 and body["threshold"]["metric"] == "cpu.user"
    assert body["drift_periods"] == [
        {"start": "2024-05-01T12:00:22Z", "end": "2024-05-01T12:00:27Z"},
        {"start": "2024-05-01T12:00:29Z", "end": None},
    ]
    assert body["status"] is None  # no drift_status_current row for the key


def test_limit_keeps_the_newest_points_with_full_windows(api, key_data):
    body = api.get("/drift/series", {**KEY, "limit": 5}).json()
    assert [p["event_time"][-3:] for p in body["points"]] == ["25Z", "26Z", "27Z", "28Z", "29Z"]
    assert body["points"][0]["rolling_mean"] == pytest.approx(16.0)  # earlier events still count
    assert body["drift_periods"] == [
        {"start": "2024-05-01T12:00:25Z", "end": "2024-05-01T12:00:27Z"},  # opened at 22 s, before the range
        {"start": "2024-05-01T12:00:29Z", "end": None},
    ]


def test_a_drift_open_before_since_starts_the_first_period(api, key_data):
    body = api.get("/drift/series", {**KEY, "since": "2024-05-01T12:00:24Z", "until": "2024-05-01T12:00:28Z"}).json()
    assert [p["event_time"][-3:] for p in body["points"]] == ["24Z", "25Z", "26Z", "27Z"]
    assert body["drift_periods"] == [{"start": "2024-05-01T12:00:24Z", "end": "2024-05-01T12:00:27Z"}]


def test_baseline_history_names_the_dag_run_of_each_version_newest_first(api, key_data):
    baseline = BaselineStats.objects.get(**KEY)
    for i, run_id in enumerate(["", "scheduled__2026-12-01T20:01:00+00:00"]):
        BaselineHistory.objects.create(baseline=baseline, events=50 + i, count=51 + 50 * i, mean=10.0, m2=50.0 + 50 * i,
                                       high_water_mark=at(60 * i), run_id=run_id)

    versions = api.get("/drift/series", KEY).json()["baseline_history"]

    assert [(v["run_id"], v["events"], v["count"], v["kind"]) for v in versions] == [
        ("scheduled__2026-12-01T20:01:00+00:00", 51, 101, "fold"), ("", 50, 51, "fold")]
    assert versions[0]["std"] == pytest.approx(1.0) and versions[0]["high_water_mark"] == "2024-05-01T12:01:00Z"


def test_key_without_threshold_or_baseline(api, ch_insert):
    ch_insert("raw_events", [raw_row(i, "lonely", "x", float(i), at(i)) for i in range(3)])
    body = api.get("/drift/series", {"source_id": "lonely", "metric": "x"}).json()
    assert [p["value"] for p in body["points"]] == [0.0, 1.0, 2.0]
    assert all(p["rolling_mean"] is None for p in body["points"])
    assert body["threshold"] is None and body["baseline"] is None and body["band"] is None
    assert body["baseline_history"] == []


def test_unknown_key_is_an_empty_series(api, clickhouse):
    body = api.get("/drift/series", {"source_id": "nobody", "metric": "nothing"}).json()
    assert body["points"] == [] and body["drift_periods"] == [] and body["status"] is None


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"metric": "cpu.user"}, "source_id"),
        ({"source_id": "host-a"}, "metric"),
        ({**KEY, "limit": "10001"}, "limit"),
        ({**KEY, "since": "soon"}, "since"),
        ({**KEY, "since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "until"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(api, clickhouse, params, parameter):
    response = api.get("/drift/series", params)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_a_cusum_key_gets_its_statistic_against_the_threshold(api, ch_insert, client, admin_user):
    MetricThreshold.objects.create(
        source_id="", metric="cpu.user", **{**THRESHOLD, "window_seconds": 10.0, "min_samples": 2, "method": "cusum",
                                            "enter_hits": 1, "target_false_alarms_per_100k": 0.5},
    )
    BaselineStats.objects.create(count=101, mean=10.0, m2=100.0, **KEY)  # std = 1
    ch_insert("raw_events", [raw_row(1000 + s, "host-a", "cpu.user", (10.0 if s < 20 else 13.0) + (1 if s % 2 else -1), at(s)) for s in range(30)])
    body = api.get("/drift/series", KEY).json()
    assert body["threshold"]["method"] == "cusum" and len(body["threshold"]["cusum_decision_thresholds"]) == 4
    scores = [p.get("cusum_score") for p in body["points"]]
    assert scores[0] is None  # one event: the window is below min_samples
    assert all(s is not None and s < 1 for s in scores[1:20])  # on the baseline: below the threshold
    assert max(scores[20:]) > 1  # a +3 sigma shift crosses it within a few samples
    client.force_login(admin_user)
    page = client.get(reverse("dashboard-key", kwargs=KEY)).content.decode()
    assert "cusum, target 0.5 false alarms per 100k" in page and "cusum statistic" in page
