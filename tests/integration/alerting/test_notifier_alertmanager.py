"""The notifier against a real Alertmanager (the binary scripts/services builds), real chDB and
real PostgreSQL: firing then resolved, silences, an Alertmanager outage, /health and /metrics.

Drift state is written to ClickHouse with the detector's own writers; the notifier runs in a
thread as it does inside run_stack; a webhook receiver records what Alertmanager notifies.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert
from detection.alerting.wiring import build_notifier, run_notifier
from detection.clickhouse.writers import write_drift_events, write_statuses
from detection.core.detector import KeyStatus, Transition, drift_event_id_for
from detection.core.state import DriftState
from driftsite.polling import wait_until
from config_app.services.sources import sources_register

pytestmark = pytest.mark.django_db(transaction=True)

OUTAGE_SECONDS = 30.0


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def status(source_id: str, metric: str, state: DriftState, since: datetime, last: datetime, z: float = 4.0) -> KeyStatus:
    return KeyStatus(source_id, metric, state, ms(since), ms(last), 70.0, 5.0, 100, 50.0, 5.0, z, 1.1, 1)


def transition(source_id: str, metric: str, event_type: str, at: datetime, trigger: int) -> Transition:
    return Transition(drift_event_id_for(source_id, metric, event_type, trigger), source_id, metric, event_type, ms(at),
                      70.0, 5.0, 100, 50.0, 5.0, 4.0, 1.1, trigger, 1)


class Drifts:
    """Writes drift state the way the detector does (status rows + transitions)."""

    def __init__(self, client):
        self.client = client
        self.database = settings.CLICKHOUSE_DATABASE
        self.started: dict[tuple[str, str], datetime] = {}
        self._trigger = 0

    def normal(self, source_id: str, metric: str) -> None:
        now = datetime.now(UTC)
        write_statuses(self.client, self.database, [status(source_id, metric, DriftState.NORMAL, now, now, z=0.2)],
                       updated_at_ms=ms(now))

    def start(self, source_id: str, metric: str) -> datetime:
        now = datetime.now(UTC).replace(microsecond=0)
        self._trigger += 1
        write_drift_events(self.client, self.database, [transition(source_id, metric, "DRIFT_START", now, self._trigger)],
                           detected_at_ms=ms(now))
        write_statuses(self.client, self.database, [status(source_id, metric, DriftState.DRIFTING, now, now)],
                       updated_at_ms=ms(now))
        self.started[(source_id, metric)] = now
        return now

    def end(self, source_id: str, metric: str) -> datetime:
        now = datetime.now(UTC)
        self._trigger += 1
        write_drift_events(self.client, self.database, [transition(source_id, metric, "DRIFT_END", now, self._trigger)],
                           detected_at_ms=ms(now))
        write_statuses(self.client, self.database, [status(source_id, metric, DriftState.NORMAL, now, now, z=0.3)],
                       updated_at_ms=ms(now))
        return now


def starts_at(value: datetime) -> str:
    """How Alertmanager echoes our startsAt in webhooks (RFC 3339, UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def config(db):
    threshold_upsert(**DEMO_DEFAULT)
    threshold_upsert(metric="cpu", severity="critical", **{k: v for k, v in DEMO_DEFAULT.items()})
    sources_register(source_ids=["drift-000", "drift-001", "drift-002"], source_type="drift")
    sources_register(source_ids=["stable-000"], source_type="stable")


@pytest.fixture
def notifier(settings, alertmanager, clickhouse, config):
    settings.ALERTMANAGER_URL = [alertmanager.url]
    settings.ALERT_RESEND_SECONDS = 3.0
    settings.ALERT_EVALUATION_SECONDS = 0.2
    settings.CONFIG_REFRESH_SECONDS = 0.5
    settings.ALERT_DASHBOARD_URL = "http://dash.test:8000"
    instance = build_notifier()
    stop = threading.Event()
    thread = threading.Thread(target=run_notifier, args=(instance, stop), name="notifier")
    thread.start()
    yield instance
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def received(receiver, status_: str, source_id: str, metric: str) -> list:
    return [a for a in receiver.alerts() if a.status == status_ and a.key == (source_id, metric)]


def test_a_drift_fires_then_resolves_with_the_contract_labels_and_nothing_for_stable_keys(
        clickhouse, notifier, receiver):
    drifts = Drifts(clickhouse)
    drifts.normal("stable-000", "cpu")
    started = drifts.start("drift-000", "cpu")
    drifts.start("drift-001", "latency_ms")

    [firing] = wait_until(lambda: received(receiver, "firing", "drift-000", "cpu"), timeout=30, what="firing drift-000/cpu")
    assert firing.labels == {"alertname": "MetricDrift", "source_id": "drift-000", "metric": "cpu", "method": "zscore",
                             "severity": "critical", "source_type": "drift"}
    assert firing.starts_at == starts_at(started)
    assert firing.annotations["dashboard_url"] == "http://dash.test:8000/dashboard/key/drift-000/cpu/"
    assert firing.annotations["z_score"] == "4" and firing.annotations["baseline_mean"] == "50"
    assert firing.annotations["threshold"] == "z > 2 or std_ratio outside [0.4, 2.5]"
    [other] = wait_until(lambda: received(receiver, "firing", "drift-001", "latency_ms"), timeout=30,
                         what="firing drift-001/latency_ms")
    assert other.labels["severity"] == "warning"  # the default row's severity

    drifts.end("drift-000", "cpu")
    [resolved] = wait_until(lambda: received(receiver, "resolved", "drift-000", "cpu"), timeout=30,
                            what="resolved drift-000/cpu")
    assert resolved.starts_at == firing.starts_at  # the same alert instance
    assert received(receiver, "resolved", "drift-001", "latency_ms") == []  # still drifting
    assert [a for a in receiver.alerts() if a.source_id == "stable-000"] == []


def test_a_silence_created_through_the_alertmanager_api_mutes_a_key(clickhouse, alertmanager, notifier, receiver):
    now = datetime.now(UTC)
    silence = alertmanager.api("/silences", method="POST", body={
        "matchers": [{"name": "source_id", "value": "drift-002", "isRegex": False, "isEqual": True},
                     {"name": "metric", "value": "cpu", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "test", "comment": "maintenance of drift-002",
    })
    drifts = Drifts(clickhouse)
    drifts.start("drift-002", "cpu")
    drifts.start("drift-000", "cpu")

    wait_until(lambda: received(receiver, "firing", "drift-000", "cpu"), timeout=30, what="firing drift-000/cpu")
    # Alertmanager has the silenced alert (the notifier sent it) and suppresses it.
    [alert] = wait_until(lambda: alertmanager.alerts(source_id="drift-002"), timeout=30, what="drift-002 in Alertmanager")
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence["silenceID"]]

    drifts.end("drift-002", "cpu")
    drifts.end("drift-000", "cpu")
    wait_until(lambda: received(receiver, "resolved", "drift-000", "cpu"), timeout=30, what="resolved drift-000/cpu")
    # both keys went through the same posts and the same group timings: the silenced key's
    # groups have flushed too by now, and nothing of it reached the receiver
    assert [a for a in receiver.alerts() if a.source_id == "drift-002"] == []


def test_a_drift_during_a_30_s_alertmanager_outage_is_delivered_once_it_is_back(
        clickhouse, alertmanager, notifier, receiver, client):
    drifts = Drifts(clickhouse)
    drifts.normal("stable-000", "cpu")
    wait_until(lambda: notifier.status().last_evaluation_at is not None, timeout=30, what="a first evaluation")

    alertmanager.stop()
    stopped_at = time.monotonic()
    started = drifts.start("drift-000", "cpu")
    wait_until(lambda: notifier.status().targets[0].consecutive_failures >= 2, timeout=30, what="failed posts")
    health = client.get("/health")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded"
    assert body["components"]["alertmanager"]["status"] == "down"
    assert all(c["status"] == "up" for name, c in body["components"].items() if name != "alertmanager")

    # the deliberate outage: Alertmanager stays down for 30 s in all
    wait_until(lambda: time.monotonic() - stopped_at >= OUTAGE_SECONDS, timeout=OUTAGE_SECONDS + 5, interval=0.5,
               what="the end of the outage")
    failures = notifier.status().targets[0].consecutive_failures
    assert receiver.alerts() == []
    alertmanager.start()
    back_at = time.monotonic()
    [firing] = wait_until(lambda: received(receiver, "firing", "drift-000", "cpu"), timeout=60,
                          what="the alert after the outage")
    delivered_after = firing.received_at - alertmanager.started_at
    assert firing.starts_at == starts_at(started)
    assert notifier.status().targets[0].consecutive_failures == 0
    assert client.get("/health").json()["status"] == "ok"
    figures = {"outage_seconds": round(back_at - stopped_at, 1), "failed_posts_during_outage": failures,
               "delivered_seconds_after_alertmanager_process_start": round(delivered_after, 2),
               "drift_started_to_delivered_seconds": round(firing.received_at - started.timestamp(), 1)}
    print(f"outage figures: {json.dumps(figures)}")


def test_metrics_exposes_per_key_drift_gauges_and_can_be_turned_off(clickhouse, client, settings):
    drifts = Drifts(clickhouse)
    drifts.normal("stable-000", "cpu")
    drifts.start("drift-000", "cpu")
    text = client.get("/metrics").content.decode()
    samples = {(s.name, s.labels.get("source_id"), s.labels.get("metric"), s.labels.get("method")): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("driftwatch_key_drifting", "drift-000", "cpu", "zscore")] == 1.0
    assert samples[("driftwatch_key_drifting", "stable-000", "cpu", "zscore")] == 0.0
    assert samples[("driftwatch_key_z_score", "drift-000", "cpu", "zscore")] == 4.0
    assert samples[("driftwatch_key_std_ratio", "drift-000", "cpu", "zscore")] == 1.1
    assert samples[("driftwatch_key_gauges_up", None, None, None)] == 1.0
    settings.API_METRICS_KEY_GAUGES = False
    text = client.get("/metrics").content.decode()
    assert "driftwatch_key_" not in text and "driftwatch_api_requests_total" in text
