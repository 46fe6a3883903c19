"""A shortened `make demo` with real processes: Kafka broker, Postgres, run_stack, three
producers and drift_controller as separate processes, and a real Alertmanager notifying a
webhook receiver; asserts the report, the API and the alerts."""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families
from tests.support.ports import free_port
from tests.support.stack_env import create_stack_topics, database_url, delete_stack_topics


ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _load_demo():
    spec = importlib.util.spec_from_file_location("demo_driver", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def demo_env(tmp_path, kafka_bootstrap, alertmanager):
    suffix, topics = create_stack_topics(kafka_bootstrap, "e2e")
    env = {
        **os.environ,
        **topics,
        "DJANGO_SETTINGS_MODULE": "driftsite.settings",
        "DATABASE_URL": database_url(),
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_DETECTOR_GROUP": f"e2e-detector-{suffix}",
        "KAFKA_INGEST_GROUP": f"e2e-ingest-{suffix}",
        "CONFIG_REFRESH_SECONDS": "2",
        "DETECTOR_METRICS_PORT": "0",
        "ALERTMANAGER_URL": alertmanager.url,
        "ALERT_RESEND_SECONDS": "5",
        "ALERT_EVALUATION_SECONDS": "1",
    }
    yield env
    delete_stack_topics(kafka_bootstrap, topics)


def test_shortened_demo_detects_and_alerts_every_injected_drift_without_false_starts(demo_env, tmp_path, receiver):
    """The demo as `make demo` runs it by default: cusum (the zscore method stays covered by the
    replay and pipeline tests)."""
    call_command("seed_config")
    call_command("seed_scenarios")
    demo_module = _load_demo()
    demo = demo_module.Demo(env=demo_env, seconds=60, time_scale=0.35, port=free_port(), logs=tmp_path / "logs",
                            backfill_seconds=600, receiver=receiver)
    try:
        demo.start_stack()
        demo.backfill()
        demo.start_live()
        demo.run(keep=False)
        demo.drain()
        demo.wait_alerts_resolved(timeout=60)
        metrics = urllib.request.urlopen(f"{demo.base_url}/metrics", timeout=10).read().decode()
        drifting = {(x.labels["source_id"], x.labels["metric"]): x.value
                    for family in text_string_to_metric_families(metrics) for x in family.samples
                    if x.name == "driftwatch_key_drifting"}
        assert len(drifting) == 30 and drifting[("drift-000", "cpu")] == 0.0  # every key, drifts over
        # the API of the running stack answers with what the detector wrote
        assert _get(f"{demo.base_url}/health")["status"] == "ok"
        status = _get(f"{demo.base_url}/drift/status?limit=100")
        assert status["count"] == 30
        events = _get(f"{demo.base_url}/drift/events?source_id=drift-000&limit=50")["results"]
        assert [e["event_type"] for e in events] == ["DRIFT_END", "DRIFT_START"]  # newest first
        # seed_config on a new install: the cusum method, whose statistics every row carries
        assert {e["method"] for e in events} == {"cusum"}
        start = events[1]
        assert start["statistic"] > start["threshold"] and len(start["cusum_statistics"]) == 4
        ended = {(e["source_id"], e["metric"])
                 for e in _get(f"{demo.base_url}/drift/events?event_type=DRIFT_END&limit=50")["results"]}
        live_report = _get(f"{demo.base_url}/drift/report?since={demo.live_since}")
        assert live_report["totals"]["detected"] == 2 and live_report["totals"]["false_starts"] == 0
    finally:
        demo.stop()
    report = demo.report()
    totals = report["totals"]
    assert totals["injected"] == 2
    assert totals["detected"] == 2 and totals["missed"] == 0
    assert totals["false_starts"] == 0
    assert totals["events_produced"] == totals["events_processed"] == 3 * 10 * 5 * 60
    assert all(0 < d["delay_seconds"] < 20 for d in report["injected"])
    assert {k: v["false_starts"] for k, v in report["by_source_type"].items()} == {"stable": 0, "dynamic": 0, "drift": 0}
    # Alertmanager notified every injected drift as firing and, once the detector ended it, as
    # resolved, and nothing else. (Under heavy load the shortened scenario's last drift may
    # still be running when the producers stop: then it has no DRIFT_END and stays firing.)
    totals = demo.alert_totals(report)
    assert totals["alerts_fired"] == 2 and totals["false_alerts"] == 0
    injected = {(d["source_id"], d["metric"]) for d in report["injected"]}
    assert {a.key for a in receiver.alerts()} == injected
    assert ("drift-000", "cpu") in ended  # its drift ends early in the scenario
    assert totals["alerts_resolved"] == len(ended)
    for key in injected:
        statuses = [a.status for a in sorted(receiver.alerts(), key=lambda a: a.received_at) if a.key == key]
        assert statuses[0] == "firing", (key, statuses)
        assert (statuses[-1] == "resolved") == (key in ended), (key, statuses)
    assert not [a for a in receiver.alerts() if a.labels["source_type"] in ("stable", "dynamic")]
