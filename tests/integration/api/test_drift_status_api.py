"""/drift/status on real chDB rows: latest version per key, filters, ordering, pages, 400s."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.integration.api.builders import T0, status_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(ch_insert):
    rows = [
        status_row("host-a", "cpu.user", "NORMAL", z_score=0.4),
        status_row("host-a", "cpu.system", "DRIFTING", z_score=7.5),
        status_row("host-b", "cpu.user", "INITIALIZING", z_score=None, std_ratio=None, baseline_mean=None, baseline_std=None),
        status_row("host-b", "mem.used", "DRIFTING", z_score=4.2),
        status_row("host-c", "mem.used", "NORMAL", z_score=1.1),
    ]
    ch_insert("drift_status_current", rows)
    return rows


def keys_of(body):
    return [(r["source_id"], r["metric"]) for r in body["results"]]


def test_lists_every_key_once_with_its_fields(api, keys):
    response = api.get("/drift/status")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert body["next"] is None and body["previous"] is None
    assert body["state_counts"] == {"INITIALIZING": 1, "NORMAL": 2, "DRIFTING": 2}
    assert keys_of(body) == [
        ("host-a", "cpu.system"), ("host-a", "cpu.user"), ("host-b", "cpu.user"), ("host-b", "mem.used"), ("host-c", "mem.used"),
    ]
    row = body["results"][0]
    assert row == {
        "source_id": "host-a",
        "metric": "cpu.system",
        "state": "DRIFTING",
        "state_since": "2024-05-01T11:55:00Z",
        "last_event_time": "2024-05-01T12:00:00Z",
        "rolling_mean": 10.0,
        "rolling_std": 1.0,
        "rolling_count": 30,
        "baseline_mean": 10.0,
        "baseline_std": 1.0,
        "z_score": 7.5,
        "std_ratio": 1.0,
        "config_version": 1,
        "updated_at": "2024-05-01T12:00:01Z",
        "method": "zscore",
        "statistic_name": "z_score",
        "statistic": 0.5,
        "threshold": 2.0,
        "cusum_statistics": [],
        "cusum_thresholds": [],
    }
    initializing = body["results"][2]
    assert initializing["z_score"] is None and initializing["baseline_mean"] is None


def test_newest_version_wins_and_replays_never_double_count(api, ch_insert):
    # Three separate inserts = three parts, nothing merged yet: FINAL must pick version 3.
    ch_insert("drift_status_current", [status_row("h", "m", "NORMAL", version=1)])
    ch_insert("drift_status_current", [status_row("h", "m", "DRIFTING", version=3, at=T0 + timedelta(minutes=2))])
    ch_insert("drift_status_current", [status_row("h", "m", "NORMAL", version=2, at=T0 + timedelta(minutes=1))])
    ch_insert("drift_status_current", [status_row("h", "m", "DRIFTING", version=3, at=T0 + timedelta(minutes=2))])  # replay
    body = api.get("/drift/status").json()
    assert body["count"] == 1
    assert body["state_counts"] == {"INITIALIZING": 0, "NORMAL": 0, "DRIFTING": 1}
    assert [r["state"] for r in body["results"]] == ["DRIFTING"]
    assert body["results"][0]["last_event_time"] == "2024-05-01T12:02:00Z"
    # A filter on a state the key only had in an older version finds nothing.
    assert api.get("/drift/status", {"state": "NORMAL"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_id": "host-b"}, [("host-b", "cpu.user"), ("host-b", "mem.used")]),
        ({"metric": "cpu.user"}, [("host-a", "cpu.user"), ("host-b", "cpu.user")]),
        ({"metric_prefix": "mem."}, [("host-b", "mem.used"), ("host-c", "mem.used")]),
        ({"metric_prefix": "cpu", "source_id": "host-a"}, [("host-a", "cpu.system"), ("host-a", "cpu.user")]),
        ({"state": "DRIFTING"}, [("host-a", "cpu.system"), ("host-b", "mem.used")]),
        ({"state": "DRIFTING", "metric_prefix": "mem"}, [("host-b", "mem.used")]),
        ({"source_id": "nobody"}, []),
    ],
)
def test_filters(api, keys, params, expected):
    body = api.get("/drift/status", params).json()
    assert keys_of(body) == expected
    assert body["count"] == len(expected)


def test_state_counts_apply_every_filter_but_state(api, keys):
    body = api.get("/drift/status", {"metric_prefix": "cpu", "state": "NORMAL"}).json()
    assert body["count"] == 1
    assert body["state_counts"] == {"INITIALIZING": 1, "NORMAL": 1, "DRIFTING": 1}


@pytest.mark.parametrize(
    ("ordering", "expected_first"),
    [
        ("-state", ("host-a", "cpu.system")),  # DRIFTING first, ties by key
        ("state", ("host-b", "cpu.user")),  # INITIALIZING first
        ("-z_score", ("host-a", "cpu.system")),
        ("z_score", ("host-a", "cpu.user")),
        ("-source_id", ("host-c", "mem.used")),
        ("metric", ("host-a", "cpu.system")),
    ],
)
def test_ordering(api, keys, ordering, expected_first):
    body = api.get("/drift/status", {"ordering": ordering}).json()
    assert keys_of(body)[0] == expected_first
    assert len(body["results"]) == 5


def test_null_scores_sort_last_both_ways(api, keys):
    for ordering in ("z_score", "-z_score"):
        assert keys_of(api.get("/drift/status", {"ordering": ordering}).json())[-1] == ("host-b", "cpu.user")


def test_limit_offset_pages_and_links(api, keys):
    first = api.get("/drift/status", {"limit": 2}).json()
    assert keys_of(first) == [("host-a", "cpu.system"), ("host-a", "cpu.user")]
    assert first["previous"] is None
    assert "offset=2" in first["next"] and "limit=2" in first["next"]
    second = api.get(first["next"]).json()
    assert keys_of(second) == [("host-b", "cpu.user"), ("host-b", "mem.used")]
    third = api.get(second["next"]).json()
    assert keys_of(third) == [("host-c", "mem.used")]
    assert third["next"] is None
    back = api.get(third["previous"]).json()
    assert keys_of(back) == keys_of(second)
    assert api.get("/drift/status", {"offset": 100}).json()["results"] == []


def test_trailing_slash_answers_the_same_without_redirect(api, keys):
    plain = api.get("/drift/status", {"state": "DRIFTING"})
    slashed = api.get("/drift/status/", {"state": "DRIFTING"})
    assert plain.status_code == slashed.status_code == 200
    assert keys_of(plain.json()) == keys_of(slashed.json())


def test_non_finite_floats_render_as_null(api, ch_insert):
    ch_insert("drift_status_current", [status_row("h", "m", "DRIFTING", z_score=math.inf, std_ratio=math.nan, rolling_mean=-math.inf)])
    response = api.get("/drift/status")
    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["z_score"] is None and row["std_ratio"] is None and row["rolling_mean"] is None


def test_browsable_api_renders_html(api, keys):
    response = api.get("/drift/status", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]
    assert "host-a" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"state": "BOGUS"}, "state"),
        ({"state": "normal"}, "state"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"ordering": "version"}, "ordering"),
        ({"ordering": "source_id; DROP TABLE x"}, "ordering"),
        ({"source_id": "x" * 257}, "source_id"),
        ({"metric": ""}, "metric"),
        ({"metric_prefix": "a\x00b"}, "metric_prefix"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(api, keys, params, parameter):
    response = api.get("/drift/status", params)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [parameter]
    assert body[parameter] and all(isinstance(m, str) for m in body[parameter])
