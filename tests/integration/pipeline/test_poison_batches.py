"""Records that used to crash the stack: a future-skewed event, a batch spanning centuries."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from config_app.models import BaselineStats
from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert
from detection.core.events import encode_event, kafka_key
from detection.wiring import build_detector, build_ingester
from driftsite.polling import wait_until
from tests.integration.pipeline.conftest import produce
from tests.integration.pipeline.faults import Running, read_topic

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_far_in_the_future_cannot_blind_its_key(topics, clickhouse, kafka_bootstrap):
    """One event 290 s ahead (inside the global skew bound, beyond the key's lateness) is
    dead-lettered; the key's real-time events that follow are all accepted, none is late."""
    threshold_upsert(**DEMO_DEFAULT)
    BaselineStats.objects.create(source_id="h1", metric="cpu", count=10_000, mean=50.0, m2=4.0 * 9_999)
    now_ms = int(time.time() * 1000)
    key = kafka_key("h1", "cpu")
    skewed = (key, encode_event("h1", "cpu", 50.0, now_ms + 290_000))
    real = [(key, encode_event("h1", "cpu", 50.0 + (i % 3), now_ms - 100_000 + i * 1000)) for i in range(100)]
    produce(kafka_bootstrap, topics["events"], [real[0], skewed] + real[1:])
    runner, handler = build_detector()
    run = Running(runner).start()
    wait_until(lambda: runner.committed_messages >= 101, timeout=60, what="everything committed")
    run.stop_and_join()
    assert handler.totals["late"] == 0
    assert handler.totals["invalid"] == 1
    (dead,) = read_topic(kafka_bootstrap, topics["dlq"], expected=1)
    assert dead[4]["reason"] == b"future_event_time"


def test_one_batch_spanning_more_than_a_hundred_months_is_written(topics, clickhouse, kafka_bootstrap):
    """raw_events is partitioned by month; one insert may touch at most 100 partitions."""
    month_ms = 31 * 86_400_000
    events = [(kafka_key("old", "m"), encode_event("old", "m", float(i), 100_000_000 + i * month_ms)) for i in range(150)]
    produce(kafka_bootstrap, topics["events"], events)
    runner, handler = build_ingester()
    run = Running(runner).start()
    wait_until(lambda: runner.committed_messages >= 150, timeout=60, what="the batch committed")
    run.stop_and_join()
    db = settings.CLICKHOUSE_DATABASE
    assert int(clickhouse.command(f"SELECT count() FROM {db}.raw_events FINAL")) == 150
    assert int(clickhouse.command(f"SELECT uniqExact(toYYYYMM(event_time)) FROM {db}.raw_events")) == 150
