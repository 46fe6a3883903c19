"""The state writer's ordering and failure policy, against a recording fake client (no I/O)."""

from __future__ import annotations

import pytest

from detection.core.state import DriftState
from detection.core.detector import KeyStatus
from detection.stream import health
from detection.stream.state_writer import StateWriter


class RecordingClient:
    """Records each insert as (table, rows); fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.inserts: list[tuple[str, list[tuple]]] = []
        self.failing = False

    def insert(self, table, columns, *, column_names, column_oriented):
        assert column_oriented
        if self.failing:
            raise ConnectionError("ClickHouse is down")
        self.inserts.append((table.rsplit(".", 1)[-1], list(zip(*columns))))


def status(key: str, event_ms: int) -> KeyStatus:
    return KeyStatus(key, "cpu", DriftState.NORMAL, 0, event_ms, 1.0, 0.5, 10, 1.0, 0.5, 0.0, 1.0, 1)


def checkpoint(partition: int, offset: int) -> tuple:
    return ("group", "events", partition, offset, b"state")


@pytest.fixture
def writer_and_client():
    client = RecordingClient()
    return StateWriter(clickhouse=client, database="drift", name="test.state"), client


def test_statuses_are_coalesced_and_written_before_the_checkpoints_taken_after_them(writer_and_client):
    writer, client = writer_and_client
    writer.add_statuses([status("a", 1), status("b", 1)])
    writer.add_statuses([status("a", 2)])
    writer.add_checkpoint(checkpoint(0, 10))
    writer.add_checkpoint(checkpoint(0, 20))  # a newer one of the same partition replaces it
    writer.write_now()
    assert [table for table, _ in client.inserts] == ["drift_status_current", "detector_checkpoints"]
    statuses = {(row[0], row[4]) for row in client.inserts[0][1]}
    assert statuses == {("a", 2), ("b", 1)}
    assert [(row[2], row[3]) for row in client.inserts[1][1]] == [(0, 20)]
    writer.write_now()  # nothing pending: nothing written
    assert len(client.inserts) == 2


def test_a_failed_round_keeps_everything_and_newer_data_wins(writer_and_client):
    writer, client = writer_and_client
    writer.add_statuses([status("a", 5), status("b", 5)])
    writer.add_checkpoint(checkpoint(1, 100))
    client.failing = True
    with pytest.raises(ConnectionError):
        writer.write_now()
    assert writer.health.state == health.DEGRADED and "ClickHouse is down" in writer.health.detail
    writer.add_statuses([status("a", 6)])  # newer than the kept one
    writer.add_checkpoint(checkpoint(1, 150))
    client.failing = False
    writer.write_now()
    statuses = {(row[0], row[4]) for row in client.inserts[0][1]}
    assert statuses == {("a", 6), ("b", 5)}
    assert [(row[2], row[3]) for row in client.inserts[1][1]] == [(1, 150)]
    assert writer.health.state == health.UP


def test_statuses_written_before_a_failed_checkpoint_are_not_written_again(writer_and_client):
    writer, client = writer_and_client
    writer.add_statuses([status("a", 1)])
    writer.add_checkpoint(checkpoint(0, 10))
    original = client.insert

    def fail_checkpoints(table, *args, **kwargs):
        if table.endswith("detector_checkpoints"):
            raise ConnectionError("checkpoint insert failed")
        return original(table, *args, **kwargs)

    client.insert = fail_checkpoints
    with pytest.raises(ConnectionError):
        writer.write_now()
    client.insert = original
    writer.write_now()
    assert [table for table, _ in client.inserts] == ["drift_status_current", "detector_checkpoints"]


def test_a_forgotten_partition_has_no_checkpoint_written(writer_and_client):
    writer, client = writer_and_client
    writer.add_checkpoint(checkpoint(0, 10))
    writer.add_checkpoint(checkpoint(1, 10))
    writer.forget(("events", 0))
    writer.write_now()
    assert [row[2] for row in client.inserts[0][1]] == [1]


def test_the_background_thread_writes_periodically_and_once_more_on_stop():
    client = RecordingClient()
    writer = StateWriter(clickhouse=client, database="drift", status_flush_seconds=0.05, name="test.state.bg")
    writer.start()
    try:
        writer.add_statuses([status("a", 1)])
        from driftsite.polling import wait_until

        wait_until(lambda: client.inserts, timeout=10, what="a periodic write")
        writer.add_statuses([status("b", 2)])
    finally:
        writer.stop()
    written = {row[0] for _, rows in client.inserts for row in rows}
    assert written == {"a", "b"}
