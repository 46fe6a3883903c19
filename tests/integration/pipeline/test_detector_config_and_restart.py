"""Live configuration reload, and kill -9 + restart against an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from django.conf import settings

from config_app.models import BaselineStats
from config_app.selectors import config_version_get
from config_app.services.thresholds import DEMO_DEFAULT, DEMO_THRESHOLDS, threshold_upsert
from detection.clickhouse.state_readers import drift_events_list
from detection.wiring import build_detector
from tests.integration.pipeline.conftest import produce, scenario_events
from tests.integration.pipeline.test_detector_service import Running, _baselines
from driftsite.polling import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def test_a_threshold_changed_in_postgres_changes_behaviour_without_restart(topics, clickhouse, kafka_bootstrap, settings):
    settings.CONFIG_REFRESH_SECONDS = 0.3
    threshold_upsert(**DEMO_DEFAULT)  # z > 2.0
    shifts = {0: (0, 399, 1.5)}  # a 1.5-sigma shift from the start: below the z threshold
    messages, names = scenario_events(keys=2, per_key=400, shifts=shifts)
    _baselines(names)
    half = len(messages) // 2
    produce(kafka_bootstrap, topics["events"], messages[:half])
    runner, handler = build_detector()
    with Running(runner) as r:
        r.wait_committed(half)
        assert drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE) == []
        threshold_upsert(metric="cpu", **{**DEMO_DEFAULT, "z_threshold": 1.0})
        version = config_version_get()
        wait_until(lambda: handler.config.version == version, timeout=10, what="config reload")
        produce(kafka_bootstrap, topics["events"], messages[half:])
        r.wait_committed(len(messages))
    events = drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)
    assert [(e["source_id"], e["event_type"]) for e in events] == [(names[0][0], "DRIFT_START")]
    assert events[0]["config_version"] == version


# --- kill -9 ----------------------------------------------------------------------------------
def _env(chdb_dir: Path, group: str) -> dict:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "driftsite.settings",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLICKHOUSE_URL": f"chdb://{chdb_dir}",
        "KAFKA_EVENTS_TOPIC": settings.KAFKA_EVENTS_TOPIC,
        "KAFKA_DLQ_TOPIC": settings.KAFKA_DLQ_TOPIC,
        "KAFKA_DETECTOR_GROUP": group,
        "DETECTOR_BATCH_MAX_EVENTS": "200",
        "DETECTOR_BATCH_MAX_SECONDS": "0.05",
        "CONFIG_REFRESH_SECONDS": "3600",
    }


def _start(env: dict, log: Path) -> subprocess.Popen:
    subprocess.run([sys.executable, "manage.py", "migrate_clickhouse"], cwd=ROOT, env=env, check=True, capture_output=True)
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_detector", "--metrics-port", "0", "--checkpoint-seconds", "0.5"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def _drift_events(env: dict) -> list[dict]:
    code = (
        "import django, json; django.setup();"
        "from django.conf import settings;"
        "from detection.clickhouse.client import get_client;"
        "from detection.clickhouse.state_readers import drift_events_list;"
        "print(json.dumps(drift_events_list(get_client(), settings.CLICKHOUSE_DATABASE)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["zscore", "cusum"])
def test_kill_9_and_restart_gives_the_same_transitions_as_an_uninterrupted_run(topics, kafka_bootstrap, tmp_path, method):
    """For cusum the checkpoint must carry the four statistics: a restored key with fresh
    statistics would decide differently after the restart."""
    threshold_upsert(**DEMO_THRESHOLDS[method])
    shifts = {3: (150, 260, 4.0), 11: (40, 120, -4.0), 17: (210, 330, 5.0)}
    messages, names = scenario_events(keys=20, per_key=400, shifts=shifts, seed=11)
    _baselines(names)
    half = len(messages) // 2
    produce(kafka_bootstrap, topics["events"], messages[:half])
    topic = topics["events"]

    # uninterrupted run
    env_a = _env(tmp_path / "a", f"a-{uuid.uuid4().hex[:8]}")
    produce(kafka_bootstrap, topic, messages[half:])
    proc = _start(env_a, tmp_path / "a.log")
    try:
        wait_until(lambda: _committed(kafka_bootstrap, env_a["KAFKA_DETECTOR_GROUP"], topic, 3) >= len(messages),
                   timeout=120, interval=0.5, what="uninterrupted run to finish")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "a.log").read_text()[-3000:]
    expected = _drift_events(env_a)
    assert {(e["source_id"], e["event_type"]) for e in expected} == {
        (names[k][0], t) for k in shifts for t in ("DRIFT_START", "DRIFT_END")
    }

    # interrupted run: killed mid-stream, twice, then restarted
    env_b = _env(tmp_path / "b", f"b-{uuid.uuid4().hex[:8]}")
    for target in (len(messages) // 3, 2 * len(messages) // 3):
        proc = _start(env_b, tmp_path / "b.log")
        wait_until(lambda: _committed(kafka_bootstrap, env_b["KAFKA_DETECTOR_GROUP"], topic, 3) >= target,
                   timeout=120, interval=0.02, what=f"{target} committed before the kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    log_b = tmp_path / "b.log"
    assigned_before = log_b.read_text().count("detector: assigned")
    proc = _start(env_b, log_b)
    try:
        # The killed runs may already have committed everything: wait until this one runs (its
        # SIGTERM handler installed, partitions assigned; logged on unbuffered stderr) before
        # stopping it.
        wait_until(lambda: log_b.read_text().count("detector: assigned") > assigned_before,
                   timeout=60, interval=0.1, what="the restarted run to be assigned its partitions")
        wait_until(lambda: _committed(kafka_bootstrap, env_b["KAFKA_DETECTOR_GROUP"], topic, 3) >= len(messages),
                   timeout=120, interval=0.5, what="restarted run to finish")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "b.log").read_text()[-3000:]
    got = _drift_events(env_b)
    # Same transitions (ids, keys, types, event times, config) in the same order; the scores
    # agree to rounding (a restored window recomputes its sums exactly instead of carrying
    # the original's running sums, which can differ in the last bits).
    # (zscore's statistic is its z-score; cusum's statistics are carried exactly by the checkpoint.)
    rounded = ("z_score", "std_ratio", "statistic")
    exact = lambda events: [{k: v for k, v in e.items() if k not in rounded} for e in events]  # noqa: E731
    assert exact(got) == exact(expected)
    for g, e in zip(got, expected):
        for name in rounded:
            assert g[name] == pytest.approx(e[name], rel=1e-9)
    assert len({e["drift_event_id"] for e in got}) == len(got)
    assert {e["method"] for e in got} == {method}
