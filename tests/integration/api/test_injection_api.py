"""Hostile strings in every filter are plain data: no error, no match, every table intact.

ClickHouse filters travel as server-side bound parameters ({name:Type}), PostgreSQL filters as
ORM parameters; nothing is spliced into SQL, so these strings can only ever be compared.
"""

from __future__ import annotations

import pytest

from config_app.models import BaselineStats, MetricThreshold, SourceMetadata
from tests.integration.api.builders import T0, THRESHOLD, event_row, raw_row, status_row

pytestmark = pytest.mark.django_db

HOSTILE = [
    "' OR 1=1 --",
    "x'); DROP TABLE drift_events; --",
    "x'); DROP TABLE drift_status_current; --",
    "host-a' OR '1'='1",
    "\\",
    "\\' OR 1=1 --",
    "host-a\\'; SELECT 1; --",
    '" OR ""="',
    "{source_id:String}",
    "' UNION ALL SELECT * FROM system.tables --",
    "%",
    "_",
    "host-%",
    "h\u00f6st-\u65e5\u672c-\U0001f642",
    "\u202e",  # right-to-left override
    "a\tb\nc\r",
]

STRING_FILTERS = {
    "/drift/status": ["source_id", "metric", "metric_prefix"],
    "/drift/events": ["source_id", "metric", "metric_prefix"],
    "/drift/series": ["source_id", "metric"],
    "/thresholds": ["source_id", "metric", "metric_prefix"],
    "/baselines": ["source_id", "metric", "metric_prefix"],
    "/sources": ["source_id", "source_id_prefix"],
}


@pytest.fixture
def data(ch_insert):
    ch_insert("drift_status_current", [status_row("host-a", "cpu.user", "DRIFTING"), status_row("host-b", "cpu.user")])
    ch_insert("drift_events", [event_row(1, "host-a", "cpu.user"), event_row(2, "host-b", "cpu.user")])
    ch_insert("raw_events", [raw_row(1, "host-a", "cpu.user", 1.0, T0)])
    MetricThreshold.objects.create(source_id="", metric="", **THRESHOLD)
    BaselineStats.objects.create(source_id="host-a", metric="cpu.user", count=2, mean=1.0, m2=1.0)
    SourceMetadata.objects.create(source_id="host-a")


def _results(path, body):
    return body["points"] if path == "/drift/series" else body["results"]


@pytest.mark.parametrize(("path", "parameter"), [(p, f) for p, fs in STRING_FILTERS.items() for f in fs])
def test_hostile_filter_values_match_nothing_and_harm_nothing(api, data, ch_count, path, parameter):
    for payload in HOSTILE:
        params = {parameter: payload}
        if path == "/drift/series":
            params = {"source_id": "host-a", "metric": "cpu.user", **params}
        response = api.get(path, params)
        assert response.status_code == 200, (payload, response.content[:300])
        assert _results(path, response.json()) == [], payload
    assert ch_count("drift_events") == 2 and ch_count("drift_status_current") == 2 and ch_count("raw_events") == 1
    assert MetricThreshold.objects.count() == 1 and BaselineStats.objects.count() == 1 and SourceMetadata.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/drift/status", "state"), ("/drift/status", "ordering"), ("/drift/status", "limit"),
        ("/drift/events", "event_type"), ("/drift/events", "since"), ("/drift/events", "until"),
        ("/drift/events", "cursor"), ("/drift/events", "ordering"), ("/sources", "source_type"),
        ("/thresholds", "ordering"), ("/baselines", "offset"),
    ],
)
def test_hostile_values_in_typed_parameters_are_400(api, data, ch_count, path, parameter):
    for payload in ("' OR 1=1 --", "x'); DROP TABLE drift_events; --", "\\"):
        response = api.get(path, {parameter: payload})
        assert response.status_code == 400, payload
        assert list(response.json()) == [parameter]
    assert ch_count("drift_events") == 2


def test_tables_still_exist_and_real_filters_still_work(api, data, clickhouse):
    from django.conf import settings

    for payload in HOSTILE:
        api.get("/drift/events", {"source_id": payload})
        api.get("/drift/status", {"metric_prefix": payload})
    tables = {
        row[0]
        for row in clickhouse.query(
            "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": settings.CLICKHOUSE_DATABASE}
        ).result_rows
    }
    assert {"raw_events", "drift_events", "drift_status_current"} <= tables
    assert [r["source_id"] for r in api.get("/drift/status", {"state": "DRIFTING"}).json()["results"]] == ["host-a"]
    assert len(api.get("/drift/events").json()["results"]) == 2


def test_a_key_that_looks_like_sql_is_found_exactly(api, ch_insert):
    weird = "x'); DROP TABLE drift_events; --"
    ch_insert("drift_status_current", [status_row(weird, "\\", "DRIFTING"), status_row("x", "\\\\")])
    body = api.get("/drift/status", {"source_id": weird, "metric": "\\"}).json()
    assert [(r["source_id"], r["metric"]) for r in body["results"]] == [(weird, "\\")]
