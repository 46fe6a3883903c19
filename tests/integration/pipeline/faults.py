"""Fault injection and ground truth for the failure tests (real broker, Postgres and chDB).

The wrappers make ONE write step of the real system fail; everything else is the real thing.
"""

from __future__ import annotations

import threading

from confluent_kafka import Consumer, TopicPartition
from django.db import connections

from detection.core.detector import KeyedDetector
from detection.core.events import InvalidEvent, parse_event
from detection.stream.config_source import detection_config_load
from driftsite.polling import wait_until


class InjectedFault(ConnectionError):
    pass


class FailingClickHouse:
    """The real client, except that inserts into ``table`` fail after ``after`` good ones,
    until :attr:`healthy` is set."""

    def __init__(self, client, table: str, *, after: int) -> None:
        self._client = client
        self.table = table
        self.after = after
        self.calls = 0
        self.failures = 0
        self.healthy = False

    def insert(self, table, *args, **kwargs):
        if table.rsplit(".", 1)[-1] == self.table and not self.healthy:
            self.calls += 1
            if self.calls > self.after:
                self.failures += 1
                raise InjectedFault(f"injected: insert into {self.table} failed")
        return self._client.insert(table, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


class FailingDeadLetters:
    """The real dead-letter producer, except that confirming a batch of letters fails after
    ``after`` good confirmations, until :attr:`healthy` is set."""

    def __init__(self, real, *, after: int) -> None:
        self._real = real
        self.after = after
        self.calls = 0
        self.failures = 0
        self.healthy = False

    def flush(self, timeout: float = 30.0) -> None:
        if self._real.pending and not self.healthy:
            self.calls += 1
            if self.calls > self.after:
                self.failures += 1
                raise InjectedFault("injected: dead-letter delivery failed")
        self._real.flush(timeout)

    def __getattr__(self, name):
        return getattr(self._real, name)


class FailingCall:
    """A callable that raises while :attr:`healthy` is not set (PostgreSQL writes)."""

    def __init__(self, real) -> None:
        self.real = real
        self.failures = 0
        self.healthy = False

    def __call__(self, *args, **kwargs):
        if not self.healthy:
            self.failures += 1
            raise InjectedFault("injected: PostgreSQL is down")
        return self.real(*args, **kwargs)


class Running:
    """Run a stream runner in a thread; ``kill()`` stops it as a crash would."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run(self.stop)
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()

    def start(self) -> "Running":
        self.thread.start()
        return self

    def kill(self) -> None:
        self.runner.kill()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()

    def stop_and_join(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def read_topic(bootstrap: str, topic: str, *, expected: int, timeout: float = 30) -> list:
    """Every message of ``topic`` as (partition, offset, key, value, headers)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list = []
    try:
        def more():
            for m in consumer.consume(500, timeout=0.2):
                if m.error() is None:
                    out.append((m.partition(), m.offset(), m.key(), m.value(), dict(m.headers() or [])))
            return len(out) >= expected

        wait_until(more, timeout=timeout, what=f"{expected} messages on {topic} (have {len(out)})")
    finally:
        consumer.close()
    return out


def committed(bootstrap: str, group: str, topic: str, partitions: int = 3) -> dict[int, int]:
    """The group's committed offset per partition (partitions without a commit are absent)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def expected_transitions(messages) -> set[tuple[int, str]]:
    """The (drift_event_id, event_type) of an uninterrupted run: the pure core over the valid
    events in order, with the configuration stored in Postgres."""
    config = detection_config_load()
    detector = KeyedDetector(config.thresholds_for, config.baseline_for)
    out = set()
    for _key, value in messages:
        try:
            event = parse_event(value, now_ms=None, max_future_skew_ms=0)
        except InvalidEvent:
            continue
        transition = detector.update(event).transition
        if transition is not None:
            out.add((transition.drift_event_id, transition.event_type))
    return out
