"""The server-only Kafka ingest (queue table from 0004, newest view from 0007), on real chDB.

chDB cannot create a Kafka engine table, so the test swaps only the queue's engine for Null
(same columns) and runs the migration's materialized view unchanged: the validation rules and
the event_id hash are ClickHouse's own, and must agree with the Python detector's.
"""

from __future__ import annotations

import re

import orjson
import pytest

from detection.clickhouse.migrator import load_migrations, placeholder_values
from detection.core.events import InvalidEvent, event_id_for, parse_event

DB = "ingest_sql_test"


@pytest.fixture
def ingest_db(clickhouse_session):
    client = clickhouse_session
    values = placeholder_values(database=DB, kafka_brokers="unused:9092", events_topic="t", kafka_group="g")
    migrations = {m.name: m for m in load_migrations()}
    client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
    for statement in migrations["0001_create_raw_events"].statements(values):
        client.command(statement)
    queue_ddl, _old_view_ddl = migrations["0004_create_raw_events_kafka_ingest"].statements(values)
    assert "ENGINE = Kafka" in queue_ddl
    client.command(re.sub(r"ENGINE = Kafka.*", "ENGINE = Null", queue_ddl, flags=re.S))
    # Every later migration that touches the view, in order: the newest definition wins.
    for name in sorted(migrations):
        if name > "0004" and "raw_events_mv" in migrations[name].sql:
            for statement in migrations[name].statements(values):
                client.command(statement)
    yield client
    client.command(f"DROP DATABASE {DB}")


VALID = [
    {"source_id": "host-1", "metric": "cpu", "value": 12.5, "event_time": "2024-05-01T10:00:00.123Z"},
    {"source_id": "host-1", "metric": "cpu", "value": 3, "event_time": "2024-05-01T12:00:00.5+02:00"},
    {"source_id": "h2", "metric": "lat", "value": -0.0, "event_time": "2024-05-01T10:00:00.1239Z"},
    {"source_id": "h2", "metric": "lat", "value": 1e-300, "event_time": "2024-05-01T10:00:00Z"},
    {"source_id": "h3", "metric": "lat", "value": 3.14159, "event_time": "2099-12-31T23:59:59.999Z"},
]
INVALID = [
    b"not json at all",
    b'{"source_id": "a", "metric": "m", "value": "12", "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00"}',
    b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "yesterday"}',
    b'{"source_id": "a", "metric": "m", "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a", "metric": "m", "value": true, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "   ", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a\\u0001b", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a", "metric": "' + b"m" * 257 + b'", "value": 1, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a", "metric": "m", "value": 1e200, "event_time": "2024-05-01T10:00:00Z"}',
    b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00Z", "pad": "' + b"x" * 70000 + b'"}',
    b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "1969-12-31T23:59:59.999Z"}',
    b'{"source_id": "a", "metric": "m", "value": 1, "event_time": "2100-01-01T00:00:00Z"}',
    b'\xef\xbb\xbf{"source_id": "a", "metric": "m", "value": 1, "event_time": "2024-05-01T10:00:00Z"}',
]


def test_view_keeps_valid_events_with_the_python_event_id(ingest_db):
    raws = [orjson.dumps(e) for e in VALID] + INVALID
    for raw in INVALID:
        with pytest.raises(InvalidEvent):
            parse_event(raw, now_ms=None, max_future_skew_ms=0)
    ingest_db.insert(f"{DB}.raw_events_queue", [[r] for r in raws], column_names=["raw"])
    rows = ingest_db.query(
        f"SELECT event_id, source_id, metric, value, toUnixTimestamp64Milli(event_time) FROM {DB}.raw_events ORDER BY event_id"
    ).result_rows
    expected = []
    for raw in raws[: len(VALID)]:
        event = parse_event(raw, now_ms=None, max_future_skew_ms=0)
        assert event.event_id == event_id_for(event.source_id, event.metric, event.value, event.event_time_ms)
        expected.append((event.event_id, event.source_id, event.metric, event.value, event.event_time_ms))
    assert sorted(rows) == sorted(expected)
