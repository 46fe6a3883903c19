"""/drift/events on real chDB rows: keyset cursor, de-duplication, filters, 400s."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from tests.integration.api.builders import T0, event_row

pytestmark = pytest.mark.django_db

BIG_ID = 2**63 + 12345  # beyond JavaScript's safe integers


def ids_of(body):
    return [int(r["drift_event_id"]) for r in body["results"]]


@pytest.fixture
def events(ch_insert):
    """23 events, one per minute; ids 1..23; alternating keys and types; two share a timestamp."""
    rows = []
    for i in range(1, 24):
        source = "host-a" if i % 2 else "host-b"
        metric = "cpu.user" if i % 3 else "mem.used"
        at = T0 + timedelta(minutes=i if i != 12 else 11)  # 11 and 12 share an event_time
        rows.append(event_row(i, source, metric, "DRIFT_START" if i % 4 else "DRIFT_END", at=at))
    ch_insert("drift_events", rows)
    return rows


def walk(api, url, params=None):
    """Follows next links to the end; returns the pages' ids."""
    pages = []
    body = api.get(url, params).json()
    pages.append(ids_of(body))
    while body["next"]:
        body = api.get(body["next"]).json()
        pages.append(ids_of(body))
    return pages, body


def test_newest_first_and_fields(api, events):
    response = api.get("/drift/events", {"limit": 3})
    assert response.status_code == 200
    body = response.json()
    assert ids_of(body) == [23, 22, 21]
    assert body["previous"] is None and body["next"]
    first = body["results"][0]
    assert first == {
        "drift_event_id": "23",
        "source_id": "host-a",
        "metric": "cpu.user",
        "event_type": "DRIFT_START",
        "event_time": "2024-05-01T12:23:00Z",
        "detected_at": "2024-05-01T12:23:00.250000Z",
        "rolling_mean": 15.0,
        "rolling_std": 1.5,
        "rolling_count": 30,
        "baseline_mean": 10.0,
        "baseline_std": 1.0,
        "z_score": 5.0,
        "std_ratio": 1.5,
        "trigger_event_id": "1023",
        "config_version": 1,
        "method": "zscore",
        "statistic_name": "z_score",
        "statistic": 5.0,
        "threshold": 2.0,
        "cusum_statistics": [],
        "cusum_thresholds": [],
    }


def test_a_cusum_event_shows_its_statistics(api, ch_insert):
    stats, hs = [0.0, 14.2, 1.0, 3.5], [11.55, 11.55, 11.9, 11.74]
    ch_insert("drift_events", [event_row(
        7, "host-c", "cpu", method="cusum", statistic_name="mean_down", statistic=14.2, threshold=11.55,
        cusum_statistics=stats, cusum_thresholds=hs,
    )])
    first = api.get("/drift/events", {"source_id": "host-c"}).json()["results"][0]
    assert (first["method"], first["statistic_name"], first["statistic"], first["threshold"]) == (
        "cusum", "mean_down", 14.2, 11.55
    )
    assert first["cusum_statistics"] == stats and first["cusum_thresholds"] == hs


def test_cursor_walks_every_event_exactly_once_and_back(api, events):
    pages, last = walk(api, "/drift/events", {"limit": 5})
    flat = [i for page in pages for i in page]
    assert flat == [23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    # ... and previous links walk back over the same pages.
    back = []
    body = last
    while body["previous"]:
        body = api.get(body["previous"]).json()
        back.append(ids_of(body))
    assert back == pages[-2::-1]
    assert body["previous"] is None


def test_oldest_first_ordering(api, events):
    pages, _ = walk(api, "/drift/events", {"limit": 10, "ordering": "event_time"})
    assert [i for p in pages for i in p] == list(range(1, 24))


def test_events_arriving_between_pages_neither_shift_nor_repeat(api, events, ch_insert):
    first = api.get("/drift/events", {"limit": 4}).json()
    ch_insert("drift_events", [event_row(100 + i, "host-z", "cpu.user", at=T0 + timedelta(hours=1, minutes=i)) for i in range(3)])
    second = api.get(first["next"]).json()
    assert ids_of(second) == [19, 18, 17, 16]
    assert ids_of(api.get("/drift/events", {"limit": 4}).json()) == [102, 101, 100, 23]


def test_replayed_duplicates_are_returned_once(api, events, ch_insert):
    # A crash replay writes the same transitions again (separate parts, not merged yet).
    ch_insert("drift_events", events[-6:])
    ch_insert("drift_events", events[-6:])
    pages, _ = walk(api, "/drift/events", {"limit": 4})
    flat = [i for p in pages for i in p]
    assert flat == list(range(23, 0, -1))


def test_a_page_full_of_duplicates_is_still_complete(api, ch_insert):
    rows = [event_row(i, "h", "m", at=T0 + timedelta(seconds=i)) for i in range(1, 41)]
    for _ in range(5):  # five copies of every event
        ch_insert("drift_events", rows)
    body = api.get("/drift/events", {"limit": 30}).json()
    assert ids_of(body) == list(range(40, 10, -1))
    assert ids_of(api.get(body["next"]).json()) == list(range(10, 0, -1))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_id": "host-b", "limit": 100}, [22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2]),
        ({"metric": "mem.used", "limit": 100}, [21, 18, 15, 12, 9, 6, 3]),
        ({"metric_prefix": "mem", "source_id": "host-a", "limit": 100}, [21, 15, 9, 3]),
        ({"event_type": "DRIFT_END", "limit": 100}, [20, 16, 12, 8, 4]),
        ({"since": "2024-05-01T12:20:00Z", "limit": 100}, [23, 22, 21, 20]),
        ({"until": "2024-05-01T12:03:00Z", "limit": 100}, [2, 1]),
        ({"since": "2024-05-01T12:10:00Z", "until": "2024-05-01T12:12:00Z", "limit": 100}, [12, 11, 10]),
        ({"since": "2024-05-01T14:10:00+02:00", "until": "2024-05-01T12:12:00", "limit": 100}, [12, 11, 10]),
        ({"source_id": "nobody"}, []),
    ],
)
def test_filters(api, events, params, expected):
    body = api.get("/drift/events", params).json()
    assert ids_of(body) == expected


def test_filters_hold_across_pages(api, events):
    pages, _ = walk(api, "/drift/events", {"source_id": "host-a", "limit": 4})
    assert [i for p in pages for i in p] == [23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1]


def test_uint64_ids_survive_as_strings(api, ch_insert):
    ch_insert("drift_events", [event_row(BIG_ID, "h", "m", trigger_event_id=2**64 - 1)])
    row = api.get("/drift/events").json()["results"][0]
    assert row["drift_event_id"] == str(BIG_ID)
    assert row["trigger_event_id"] == str(2**64 - 1)


def test_cursor_is_opaque_base64(api, events):
    body = api.get("/drift/events", {"limit": 2}).json()
    cursor = body["next"].split("cursor=")[1].split("&")[0]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert set(payload) == {"t", "i", "b"}


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2024-13-01T00:00:00Z"}, "since"),
        ({"until": "2024-05-01T25:00:00Z"}, "until"),
        ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "until"),
        ({"since": "2024-05-01T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "until"),
        ({"since": "3000-01-01T00:00:00Z"}, "since"),
        ({"until": "1800-01-01T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+23:59"}, "since"),
        ({"event_type": "DRIFT"}, "event_type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"ordering": "drift_event_id"}, "ordering"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "eyJ0IjoxfQ"}, "cursor"),  # valid base64 JSON, wrong shape
        ({"cursor": _cursor({"t": 1, "i": "-5", "b": 0})}, "cursor"),
        ({"cursor": _cursor({"t": 1, "i": str(2**64), "b": 0})}, "cursor"),
        ({"cursor": _cursor({"t": 10**15, "i": "1", "b": 0})}, "cursor"),
        ({"cursor": _cursor({"t": 1.5, "i": "1", "b": 0})}, "cursor"),
        ({"cursor": _cursor({"t": 1, "i": "1", "b": 2})}, "cursor"),
        ({"cursor": "x" * 201}, "cursor"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(api, events, params, parameter):
    response = api.get("/drift/events", params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [parameter]
