"""The detector service on the real broker, real Postgres and real chDB (in-process runner)."""

from __future__ import annotations

import threading

import orjson
import pytest
from confluent_kafka import Consumer
from django.conf import settings
from django.db import connections

from config_app.models import BaselineStats, SourceMetadata
from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert
from detection.clickhouse.state_readers import drift_events_list, drift_status_list
from detection.core.events import encode_event, kafka_key
from detection.wiring import build_detector, build_ingester
from tests.integration.pipeline.conftest import T0_MS, produce, scenario_events
from driftsite.polling import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

MEAN, STD = 50.0, 2.0


def _baselines(names, mean=MEAN, std=STD, n=10_000):
    BaselineStats.objects.bulk_create(
        [BaselineStats(source_id=s, metric=m, count=n, mean=mean, m2=std * std * (n - 1)) for s, m in names]
    )


class Running:
    """Run a stream service in a thread until it has committed ``expected`` messages."""

    def __init__(self, runner):
        self.runner = runner
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            self.runner.run(self.stop)
        except BaseException as exc:  # surfaced by stop_and_join
            self.error = exc
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        return self

    def wait_committed(self, expected, timeout=90):
        wait_until(lambda: self.error or self.runner.committed_messages >= expected, timeout=timeout,
                   what=f"{expected} committed messages (have {self.runner.committed_messages})")
        assert self.error is None, self.error

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        if self.error and not exc[0]:
            raise self.error


def test_mean_shift_on_two_of_twenty_keys_gives_one_start_and_one_end_each(topics, clickhouse, kafka_bootstrap):
    threshold_upsert(**DEMO_DEFAULT)
    shifts = {3: (100, 180, 4.0), 11: (150, 220, -4.0)}
    messages, names = scenario_events(keys=20, per_key=300, shifts=shifts)
    _baselines(names)
    produce(kafka_bootstrap, topics["events"], messages)

    runner, handler = build_detector()
    with Running(runner) as running:
        running.wait_committed(len(messages))

    events = drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)
    by_key = {}
    for e in events:
        by_key.setdefault((e["source_id"], e["metric"]), []).append(e)
    assert set(by_key) == {names[3], names[11]}
    for k, (first, last, _) in shifts.items():
        start, end = by_key[names[k]]
        assert start["event_type"] == "DRIFT_START" and end["event_type"] == "DRIFT_END"
        start_index = (start["event_time_ms"] - T0_MS) // 1000
        end_index = (end["event_time_ms"] - T0_MS) // 1000
        assert first <= start_index <= first + 20, start_index  # after the truth, bounded delay
        assert last < end_index <= last + 40, end_index
        assert start["z_score"] > DEMO_DEFAULT["z_threshold"]
    statuses = drift_status_list(clickhouse, settings.CLICKHOUSE_DATABASE)
    assert len(statuses) == 20 and {s["state"] for s in statuses} == {"NORMAL"}
    assert handler.totals["events_in"] == len(messages)
    seen = SourceMetadata.objects.filter(active=True).count()
    assert seen == 20


def test_malformed_messages_go_to_the_dead_letter_topic_and_nothing_valid_is_lost(topics, clickhouse, kafka_bootstrap):
    threshold_upsert(**DEMO_DEFAULT)
    messages, names = scenario_events(keys=3, per_key=50, shifts={})
    bad = [
        b"not json",
        b'{"source_id": "a", "metric": "m", "event_time": "2024-01-01T00:00:00Z"}',
        b'{"source_id": "a", "metric": "m", "value": NaN, "event_time": "2024-01-01T00:00:00Z"}',
        b'{"source_id": "a", "metric": "m", "value": 1e400, "event_time": "2024-01-01T00:00:00Z"}',
        b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "01/02/2024"}',
        b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "2099-01-01T00:00:00Z"}',
        b'{"source_id": "", "metric": "m", "value": 1, "event_time": "2024-01-01T00:00:00Z"}',
        orjson.dumps({"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-01-01T00:00:00Z", "pad": "x" * 200_000}),
    ]
    mixed = list(messages)
    for i, raw in enumerate(bad):
        mixed.insert(10 + i * 15, (b"bad", raw))
    produce(kafka_bootstrap, topics["events"], mixed)

    detector, handler = build_detector()
    ingester, ingest_handler = build_ingester()
    with Running(detector) as d, Running(ingester) as i:
        d.wait_committed(len(mixed))
        i.wait_committed(len(mixed))
    assert handler.totals["invalid"] == len(bad)
    assert handler.totals["events_in"] == len(mixed)
    assert ingest_handler.written == len(messages)
    assert int(clickhouse.command(f"SELECT count() FROM {settings.CLICKHOUSE_DATABASE}.raw_events FINAL")) == len(messages)

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "dlq-reader", "auto.offset.reset": "earliest"})
    consumer.subscribe([topics["dlq"]])
    dead = []
    try:
        wait_until(lambda: dead.extend(m for m in [consumer.poll(0.2)] if m is not None and m.error() is None) or len(dead) >= len(bad),
                   timeout=30, what="dead letters")
    finally:
        consumer.close()
    assert sorted(m.value() for m in dead) == sorted(bad)
    reasons = {dict(m.headers())["reason"].decode() for m in dead}
    assert {"not_json", "not_finite", "bad_event_time", "future_event_time", "empty_source_id", "too_large"} <= reasons
    assert any(r.startswith("missing_field") for r in reasons)


def test_duplicates_and_late_events_are_counted_and_change_nothing(topics, clickhouse, kafka_bootstrap):
    threshold_upsert(**DEMO_DEFAULT)
    shifts = {1: (60, 120, 4.0)}
    clean, names = scenario_events(keys=3, per_key=200, shifts=shifts)
    _baselines(names)
    noisy = []
    for i, message in enumerate(clean):
        noisy.append(message)
        if i % 10 == 0:
            noisy.append(message)  # duplicate
    late = [(kafka_key(s, m), encode_event(s, m, 999.0, T0_MS + 5_000)) for s, m in names]
    noisy[len(noisy) // 2: len(noisy) // 2] = late  # ~100 s behind each key's newest event
    produce(kafka_bootstrap, topics["events"], noisy)
    runner, handler = build_detector()
    with Running(runner) as r:
        r.wait_committed(len(noisy))
    events = drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)
    assert [(e["source_id"], e["event_type"]) for e in events] == [(names[1][0], "DRIFT_START"), (names[1][0], "DRIFT_END")]
    runner.consumer  # closed
    assert handler.totals["duplicate"] == len(range(0, len(clean), 10))
    assert handler.totals["late"] == len(late)
