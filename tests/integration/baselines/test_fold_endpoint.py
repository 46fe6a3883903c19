"""run_stack's internal fold endpoint, served for real (waitress on a loopback port) over the real
Postgres test database and the session's chDB: authentication, idempotence, errors, the client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import psycopg
import pytest
from django.conf import settings as django_settings
from tests.integration.baselines.baseline_support import T0_MS, Event, at

from detection.baselines.endpoint import PATH, FoldEndpointError, fold_for_dag_run, request_fold, serve
from config_app.models import BaselineFoldState, BaselineHistory, BaselineStats
from driftsite.polling import wait_until
from tests.support.ports import free_port, listening

# The server thread has its own database connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "test-token-for-the-fold-endpoint"
MINUTE_MS = 60_000
UNTIL = at(T0_MS + 10 * MINUTE_MS)


@pytest.fixture
def endpoint_with(clickhouse, settings):
    """Start the endpoint with a given token; returns its base URL. Stopped after the test."""
    settings.BASELINE_SAFETY_LAG_SECONDS = 0
    stops = []

    def start(token: str) -> str:
        port = free_port()
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(stop,), kwargs={"host": "127.0.0.1", "port": port, "token": token},
                                  daemon=True)
        thread.start()
        stops.append((stop, thread))
        wait_until(lambda: listening(port), timeout=10, what="the fold endpoint to listen")
        return f"http://127.0.0.1:{port}"

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def endpoint(endpoint_with):
    return endpoint_with(TOKEN)


@pytest.fixture
def events(raw_events):
    """Six events of two keys, ingested one minute after T0 (inside every fold below)."""
    batch = [Event(i, "host-1", "cpu", float(i), T0_MS + i) for i in range(1, 4)]
    batch += [Event(10 + i, "host-2", "mem", 10.0 * i, T0_MS + i) for i in range(1, 4)]
    raw_events.insert(batch, ingest_ms=T0_MS + MINUTE_MS)
    return batch


def _post(url: str, body: dict | bytes, *, token: str | None = TOKEN, method: str = "POST", path: str = PATH):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data if method == "POST" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _request(run_id: str = "scheduled__1") -> dict:
    return {"run_id": run_id, "until": UNTIL.isoformat()}


def _nothing_folded() -> bool:
    return not BaselineStats.objects.exists() and not BaselineFoldState.objects.filter(high_water_mark__isnull=False).exists()


def test_a_valid_request_folds_and_records_the_run_id(endpoint, events):
    status, answer = _post(endpoint, _request("scheduled__2026-12-01T20:00:00+00:00"))

    assert status == 200
    assert answer["result"] == "folded" and answer["replayed"] is False
    assert (answer["keys_updated"], answer["events_folded"]) == (2, 6)
    assert answer["high_water_mark"] == UNTIL.isoformat() and answer["previous_high_water_mark"] is None
    assert BaselineStats.objects.get(source_id="host-1", metric="cpu").count == 3
    assert set(BaselineHistory.objects.values_list("run_id", flat=True)) == {"scheduled__2026-12-01T20:00:00+00:00"}


def test_a_repeated_run_folds_nothing_and_answers_what_it_folded_first(endpoint, events, raw_events):
    first = _post(endpoint, _request("scheduled__a"))[1]
    # A copy of an event arriving after the fold (a duplicate) must not be counted by the retry either.
    raw_events.insert([events[0]], ingest_ms=T0_MS + 2 * MINUTE_MS)

    status, again = _post(endpoint, _request("scheduled__a"))

    assert status == 200
    assert again["result"] == "already_folded" and again["replayed"] is True
    assert {k: again[k] for k in ("keys_updated", "events_folded", "high_water_mark")} == \
        {k: first[k] for k in ("keys_updated", "events_folded", "high_water_mark")}
    assert sorted(BaselineStats.objects.values_list("count", flat=True)) == [3, 3]
    assert BaselineHistory.objects.count() == 2  # one version per key, from the first call only


def test_another_run_for_an_interval_already_folded_counts_nothing(endpoint, events):
    _post(endpoint, _request("scheduled__a"))

    status, answer = _post(endpoint, _request("manual__b"))

    assert status == 200
    assert answer["result"] == "already_folded" and answer["replayed"] is False
    assert (answer["keys_updated"], answer["events_folded"]) == (0, 0)
    assert sorted(BaselineStats.objects.values_list("count", flat=True)) == [3, 3]


@pytest.mark.parametrize("token", [None, "", "wrong-token", TOKEN + "x"])
def test_a_missing_or_wrong_token_is_refused_and_nothing_is_folded(endpoint, events, token):
    status, answer = _post(endpoint, _request(), token=token)

    assert status == 401
    assert "token" in answer["error"].lower() or "authorization" in answer["error"].lower()
    assert _nothing_folded()


def test_without_a_configured_token_every_request_is_refused(endpoint_with, events):
    url = endpoint_with("")

    for token in (None, "", "anything"):
        status, answer = _post(url, _request(), token=token)
        assert status == 403
        assert "INTERNAL_API_TOKEN is not configured" in answer["error"]
    assert _nothing_folded()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        ({"until": UNTIL.isoformat()}, "run_id"),
        ({"run_id": "  ", "until": UNTIL.isoformat()}, "run_id"),
        ({"run_id": "x" * 251, "until": UNTIL.isoformat()}, "longer than 250"),
        ({"run_id": "r"}, "until"),
        ({"run_id": "r", "until": "yesterday"}, "not an ISO-8601"),
        ({"run_id": "r", "until": "2024-01-01T00:10:00"}, "no offset"),
    ],
)
def test_a_bad_body_gets_400_with_the_reason_and_nothing_is_folded(endpoint, events, body, reason):
    status, answer = _post(endpoint, body)

    assert status == 400
    assert reason in answer["error"]
    assert _nothing_folded()


def test_other_methods_and_paths_are_refused(endpoint):
    assert _post(endpoint, b"", method="GET")[0] == 405
    assert _post(endpoint, _request(), path="/admin/")[0] == 404


def test_the_client_returns_the_answer_and_raises_with_the_reason(endpoint, events):
    answer = request_fold(url=endpoint, token=TOKEN, until=UNTIL, run_id="scheduled__c", timeout=30)
    assert (answer["result"], answer["events_folded"]) == ("folded", 6)

    with pytest.raises(FoldEndpointError, match="answered 401: wrong token"):
        request_fold(url=endpoint, token="nope", until=UNTIL, run_id="scheduled__c", timeout=30)
    with pytest.raises(FoldEndpointError, match="INTERNAL_API_TOKEN is not set"):
        request_fold(url=endpoint, token="", until=UNTIL, run_id="scheduled__c", timeout=30)
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(FoldEndpointError, match="cannot reach run_stack's fold endpoint"):
        request_fold(url=closed, token=TOKEN, until=UNTIL, run_id="scheduled__c", timeout=30)


def test_an_attempt_that_times_out_after_folding_is_retried_without_counting_twice(endpoint, events):
    """The failure Airflow retries: the fold completes in run_stack but the task never gets the
    answer. Forced for real by holding the fold-state row lock in another Postgres session."""
    _post(endpoint, {"run_id": "scheduled__warmup", "until": at(T0_MS).isoformat()})  # creates the state row
    db = django_settings.DATABASES["default"]
    holder = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                             dbname=db["NAME"])
    try:
        holder.execute("SELECT high_water_mark FROM baseline_fold_state WHERE id = 1 FOR UPDATE")
        with pytest.raises(FoldEndpointError, match="no answer .* within 1 s"):
            request_fold(url=endpoint, token=TOKEN, until=UNTIL, run_id="scheduled__slow", timeout=1)
    finally:
        holder.rollback()  # the blocked fold goes on and commits, after its caller gave up
        holder.close()
    wait_until(lambda: BaselineHistory.objects.filter(run_id="scheduled__slow").count() == 2, timeout=30,
               what="the abandoned fold to commit")

    retry = request_fold(url=endpoint, token=TOKEN, until=UNTIL, run_id="scheduled__slow", timeout=30)

    assert retry["result"] == "already_folded" and retry["replayed"] is True
    assert (retry["keys_updated"], retry["events_folded"]) == (2, 6)
    assert sorted(BaselineStats.objects.values_list("count", flat=True)) == [3, 3]


def test_the_direct_path_runs_the_same_fold_in_this_process(clickhouse, events, settings):
    settings.BASELINE_SAFETY_LAG_SECONDS = 0
    settings.BASELINE_FOLD_VIA = "direct"

    first = fold_for_dag_run(run_id="scheduled__d", until=UNTIL)
    again = fold_for_dag_run(run_id="scheduled__d", until=UNTIL)

    assert (first["result"], first["events_folded"]) == ("folded", 6)
    assert (again["result"], again["replayed"], again["events_folded"]) == ("already_folded", True, 6)
    assert sorted(BaselineStats.objects.values_list("count", flat=True)) == [3, 3]


def test_the_endpoint_path_needs_a_token_on_the_callers_side(settings):
    settings.BASELINE_FOLD_VIA = "endpoint"
    settings.INTERNAL_API_TOKEN = ""

    with pytest.raises(FoldEndpointError, match="INTERNAL_API_TOKEN is not set"):
        fold_for_dag_run(run_id="scheduled__e", until=UNTIL)
