"""Commit only what was written: each write step fails in turn (real broker, Postgres, chDB).

For every step of a batch's own writes (raw insert, drift events, dead-letter produce): the
detector and the ingester run on a scenario with a drift and some poison records; after a few
good batches the step starts failing; the runners retry (nothing is committed meanwhile) and are
then killed as a crash would. Checked at that point: every committed offset covers only
messages whose results were written. Then both restart with healthy stores and run to the end.
Checked after the restart: every valid event is in raw_events exactly once, the transitions
equal an uninterrupted run's, and every poison record is in the dead-letter topic.

Statuses and checkpoints are written off the consumer thread (detection/stream/state_writer.py):
their failure must not hold back detection or commits, and what they could not write is written
once the store is back; a crash meanwhile restarts from the last stored checkpoint and loses
nothing. PostgreSQL is not needed to detect either, so its failure must not stop or hold back
anything (the last test).
"""

from __future__ import annotations

import orjson
import pytest
from django.conf import settings

from config_app.models import BaselineStats, SourceMetadata
from config_app.services.sources import sources_seen_record
from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert
from detection.clickhouse.state_readers import checkpoint_get, drift_events_list
from detection.core.events import InvalidEvent, parse_event
from detection.stream import health as stream_health
from detection.wiring import build_detector, build_ingester
from driftsite.polling import wait_until
from tests.integration.pipeline.conftest import produce, scenario_events
from tests.integration.pipeline.faults import (
    FailingCall,
    FailingClickHouse,
    FailingDeadLetters,
    Running,
    committed,
    expected_transitions,
    read_topic,
)

pytestmark = pytest.mark.django_db(transaction=True)

POISON = [
    None,  # a tombstone
    b"\xef\xbb\xbf" + orjson.dumps({"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-01-01T00:00:00Z"}),
    orjson.dumps({"source_id": "a", "metric": "m", "value": 1, "event_time": "1969-07-20T20:17:40Z"}),
    orjson.dumps({"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-01-01T00:00:00Z", "pad": "x" * 5_000_000}),
    b"not json",
]


def _scenario():
    messages, names = scenario_events(keys=6, per_key=300, shifts={2: (120, 200, 4.0), 4: (60, 150, -4.0)})
    mixed = list(messages)
    for i, raw in enumerate(POISON):
        mixed.insert(200 + i * 250, (b"poison", raw))
    BaselineStats.objects.bulk_create(
        [BaselineStats(source_id=s, metric=m, count=10_000, mean=50.0, m2=4.0 * 9_999) for s, m in names])
    return mixed, messages


def _valid_ids(messages) -> set[int]:
    ids = set()
    for _key, value in messages:
        try:
            ids.add(parse_event(value, now_ms=None, max_future_skew_ms=0).event_id)
        except (InvalidEvent, TypeError):
            pass
    return ids


def _raw_ids(clickhouse) -> tuple[set[int], int]:
    db = settings.CLICKHOUSE_DATABASE
    ids = {row[0] for row in clickhouse.query(f"SELECT event_id FROM {db}.raw_events FINAL").result_rows}
    rows = int(clickhouse.command(f"SELECT count() FROM {db}.raw_events FINAL"))
    return ids, rows


@pytest.mark.parametrize("step", ["raw_events", "drift_events", "dead_letters"])
def test_a_failing_write_step_commits_nothing_unwritten_and_a_restart_loses_nothing(
        step, topics, clickhouse, kafka_bootstrap, settings):
    settings.DETECTOR_BATCH_MAX_EVENTS = 150
    settings.STREAM_WRITE_RETRY_SECONDS = 600  # keep retrying until killed
    threshold_upsert(**DEMO_DEFAULT)
    mixed, messages = _scenario()
    produce(kafka_bootstrap, topics["events"], mixed)
    on_topic = read_topic(kafka_bootstrap, topics["events"], expected=len(mixed))

    # 1. Run until the step has failed a few times (the runner is retrying), then crash.
    table = {"dead_letters": None}.get(step, step)
    failing_ch = FailingClickHouse(clickhouse, table or "-", after=3)
    ingester, _ = build_ingester(clickhouse=failing_ch)
    detector, handler = build_detector(checkpoint_seconds=0.0, clickhouse=failing_ch)
    failing = failing_ch
    if step == "dead_letters":
        handler.dead_letters = failing = FailingDeadLetters(handler.dead_letters, after=0)
    runs = [Running(ingester).start(), Running(detector).start()]
    wait_until(lambda: failing.failures >= 3, timeout=120, what=f"{step} failing")
    for run in runs:
        run.kill()

    # 2. What was committed covers only what was written.
    ingest_commits = committed(kafka_bootstrap, settings.KAFKA_INGEST_GROUP, topics["events"])
    detector_commits = committed(kafka_bootstrap, settings.KAFKA_DETECTOR_GROUP, topics["events"])
    written_ids, _ = _raw_ids(clickhouse)
    below_commit = _valid_ids((k, v) for p, o, k, v, h in on_topic if o < ingest_commits.get(p, 0))
    assert below_commit <= written_ids, "an offset was committed for a raw event that was not written"
    for partition in detector_commits:  # a restart restores state instead of starting empty
        assert _checkpoint(clickhouse, topics, partition) is not None, "a partition was committed before its first checkpoint"
    failing_group = detector_commits if step != "raw_events" else ingest_commits
    assert sum(failing_group.values()) < len(mixed), "the failing batch was committed"
    at_kill = {"step": step, "messages": len(mixed), "failures_injected": failing.failures,
               "committed_ingest": sum(ingest_commits.values()), "committed_detector": sum(detector_commits.values()),
               "raw_written_at_kill": len(written_ids)}

    # 3. Restart with healthy stores; run to the end.
    failing.healthy = True
    ingester, _ = build_ingester()
    detector, _ = build_detector(checkpoint_seconds=0.0)
    runs = [Running(ingester).start(), Running(detector).start()]
    wait_until(lambda: sum(committed(kafka_bootstrap, settings.KAFKA_INGEST_GROUP, topics["events"]).values()) == len(mixed)
               and sum(committed(kafka_bootstrap, settings.KAFKA_DETECTOR_GROUP, topics["events"]).values()) == len(mixed),
               timeout=120, interval=0.5, what="everything committed after the restart")
    for run in runs:
        run.stop_and_join()

    ids, rows = _raw_ids(clickhouse)
    assert ids == _valid_ids(messages) and rows == len(messages), "raw_events: lost or duplicated"
    found = {(e["drift_event_id"], e["event_type"]) for e in drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)}
    assert found == expected_transitions(messages)
    assert len(found) == 4
    dead = read_topic(kafka_bootstrap, topics["dlq"], expected=len(POISON))
    reasons = {h["reason"].decode() for *_, h in dead}
    assert {"no_payload", "bom", "event_time_out_of_range", "too_large", "not_json"} <= reasons
    assert any(h.get("truncated") == b"1" for *_, h in dead)  # the 5 MB record, kept bounded
    # the figures of the failing-writer matrix (shown with pytest -rP)
    print({**at_kill, "after_restart_raw_rows": rows, "valid_events": len(messages),
           "transitions": len(found), "dead_letters": len(dead)})


def _checkpoint(clickhouse, topics, partition):
    return checkpoint_get(clickhouse, settings.CLICKHOUSE_DATABASE, consumer_group=settings.KAFKA_DETECTOR_GROUP,
                          topic=topics["events"], partition=partition)


def _statuses(clickhouse) -> dict[tuple[str, str], int]:
    rows = clickhouse.query(f"SELECT source_id, metric, toUnixTimestamp64Milli(last_event_time) "
                            f"FROM {settings.CLICKHOUSE_DATABASE}.drift_status_current FINAL").result_rows
    return {(s, m): int(t) for s, m, t in rows}


@pytest.mark.parametrize("table", ["drift_status_current", "detector_checkpoints"])
def test_failing_status_or_checkpoint_writes_hold_back_nothing(table, topics, clickhouse, kafka_bootstrap, settings):
    settings.DETECTOR_BATCH_MAX_EVENTS = 150
    settings.STATUS_FLUSH_SECONDS = 0.2
    threshold_upsert(**DEMO_DEFAULT)
    mixed, messages = _scenario()
    newest = {}
    for _key, value in messages:
        event = parse_event(value, now_ms=None, max_future_skew_ms=0)
        newest[(event.source_id, event.metric)] = max(newest.get((event.source_id, event.metric), 0), event.event_time_ms)
    failing = FailingClickHouse(clickhouse, table, after=10**9)
    detector, handler = build_detector(checkpoint_seconds=0.0, clickhouse=failing)
    produce(kafka_bootstrap, topics["events"], mixed[:300])
    run = Running(detector).start()
    # Each partition's first checkpoint is stored before its first commit; then the store fails.
    wait_until(lambda: all(_checkpoint(clickhouse, topics, p) for p in range(3)), timeout=60, what="first checkpoints")
    failing.after = failing.calls
    first_checkpoints = {p: _checkpoint(clickhouse, topics, p)[0] for p in range(3)}
    produce(kafka_bootstrap, topics["events"], mixed[300:])

    # Detection and commits go on while every write into the table fails and is retried.
    wait_until(lambda: detector.committed_messages >= len(mixed) and failing.failures >= 3, timeout=120,
               what=f"everything committed while {table} fails")
    component = stream_health.components()["detector.state"]
    assert component.state == stream_health.DEGRADED and "injected" in component.detail
    found = {(e["drift_event_id"], e["event_type"]) for e in drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)}
    assert found == expected_transitions(messages)
    if table == "detector_checkpoints":
        assert {p: _checkpoint(clickhouse, topics, p)[0] for p in range(3)} == first_checkpoints

    # The store is back: what was kept (newest per key / per partition) is written by itself.
    failing.healthy = True
    wait_until(lambda: _statuses(clickhouse) == newest, timeout=30, what="every key's newest status written")
    ends = {p: o for p, o in committed(kafka_bootstrap, settings.KAFKA_DETECTOR_GROUP, topics["events"]).items()}
    wait_until(lambda: component.state == stream_health.UP, timeout=30, what="state writer recovered")

    # A crash now, then a restart, reproduces nothing new and loses nothing.
    run.kill()
    assert sum(ends.values()) == len(mixed)
    detector, _ = build_detector(checkpoint_seconds=0.0)
    run = Running(detector).start()
    wait_until(lambda: all(_checkpoint(clickhouse, topics, p) is not None for p in range(3)), timeout=30, what="restored")
    run.stop_and_join()
    found = {(e["drift_event_id"], e["event_type"]) for e in drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)}
    assert found == expected_transitions(messages)
    assert _statuses(clickhouse) == newest


def test_postgres_down_does_not_stop_or_hold_back_detection(topics, clickhouse, kafka_bootstrap, settings):
    settings.DETECTOR_BATCH_MAX_EVENTS = 150
    settings.SOURCE_RECORD_SECONDS = 0.2
    threshold_upsert(**DEMO_DEFAULT)
    mixed, messages = _scenario()
    produce(kafka_bootstrap, topics["events"], mixed)
    record = FailingCall(sources_seen_record)
    detector, handler = build_detector(checkpoint_seconds=0.0, record_sources=record)
    run = Running(detector).start()
    wait_until(lambda: detector.committed_messages >= len(mixed), timeout=120, what="all committed while Postgres fails")
    wait_until(lambda: record.failures >= 2, timeout=30, what="source bookkeeping retried")
    component = stream_health.components()["detector.sources"]
    assert component.state == stream_health.DEGRADED and "PostgreSQL is down" in component.detail
    found = {(e["drift_event_id"], e["event_type"]) for e in drift_events_list(clickhouse, settings.CLICKHOUSE_DATABASE)}
    assert found == expected_transitions(messages)
    assert SourceMetadata.objects.count() == 0
    record.healthy = True  # PostgreSQL is back: the coalesced sightings are written by themselves
    wait_until(lambda: SourceMetadata.objects.filter(active=True).count() == 6, timeout=30, what="sources recorded")
    assert component.state == stream_health.UP
    run.stop_and_join()
