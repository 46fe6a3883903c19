"""Fail-over between detectors: 3 consumers in one group, one dies without committing.

Its partitions move to the survivors, which restore the dead one's checkpoints and replay from
them: the transitions equal an uninterrupted run's, and raw_events has every event once.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from config_app.models import BaselineStats
from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert
from detection.clickhouse.state_readers import drift_events_list
from detection.wiring import build_detector, build_ingester
from driftsite.polling import wait_until
from tests.integration.pipeline.conftest import produce, scenario_events
from tests.integration.pipeline.faults import Running, committed, expected_transitions

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_detectors_one_dies_mid_scenario_transitions_equal_an_uninterrupted_run(
        topics, clickhouse, kafka_bootstrap, settings):
    settings.DETECTOR_BATCH_MAX_EVENTS = 100
    threshold_upsert(**DEMO_DEFAULT)
    shifts = {k: (100 + 20 * k, 200 + 20 * k, 4.0 if k % 2 else -4.0) for k in range(0, 12, 2)}
    messages, names = scenario_events(keys=12, per_key=400, shifts=shifts)
    BaselineStats.objects.bulk_create(
        [BaselineStats(source_id=s, metric=m, count=10_000, mean=50.0, m2=4.0 * 9_999) for s, m in names])
    half = len(messages) // 2

    ingest = Running(build_ingester()[0]).start()
    detectors = [build_detector(checkpoint_seconds=0.5, name=f"detector-{i}") for i in range(3)]
    runs = [Running(runner).start() for runner, _ in detectors]
    wait_until(lambda: all(len(h.detectors) == 1 for _, h in detectors), timeout=60, what="each detector owns a partition")
    produce(kafka_bootstrap, topics["events"], messages[:half])
    victim_runner, victim = detectors[0]
    wait_until(lambda: victim_runner.committed_messages > 0 and victim.checkpoints._saved_at,
               timeout=60, what="the victim committed and checkpointed")
    runs[0].kill()  # dies without committing its open batch
    produce(kafka_bootstrap, topics["events"], messages[half:])

    total = len(messages)
    wait_until(lambda: sum(committed(kafka_bootstrap, settings.KAFKA_DETECTOR_GROUP, topics["events"]).values()) == total
               and sum(committed(kafka_bootstrap, settings.KAFKA_INGEST_GROUP, topics["events"]).values()) == total,
               timeout=120, interval=0.5, what="the survivors consumed everything")
    survivors_partitions = {tp for _, h in detectors[1:] for tp in h.detectors}
    for run in runs[1:] + [ingest]:
        run.stop_and_join()

    assert len(survivors_partitions) == 3  # the victim's partition moved
    found = {(e["drift_event_id"], e["event_type"]) for e in drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)}
    expected = expected_transitions(messages)
    assert len(expected) >= 10 and found == expected  # starts and ends of the 6 shifted keys
    db = settings.CLICKHOUSE_DATABASE
    assert int(clickhouse.command(f"SELECT count() FROM {db}.raw_events FINAL")) == total
    assert int(clickhouse.command(f"SELECT uniqExact(event_id) FROM {db}.raw_events")) == total
