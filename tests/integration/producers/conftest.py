"""Fixtures for the producers' integration tests: a fresh control topic, a reader of what the
real broker holds, a subprocess runner for ``manage.py`` (against the TEST database), and a
manual clock for the drift controller."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def control_topic(kafka_bootstrap):
    """A fresh 2-partition topic (the listener must follow every partition), deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"test.control.{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


class TopicReader:
    """Reads a topic from the beginning with a consumer of its own; ``read_until`` polls (with a
    deadline, no sleeps) until a predicate over everything read so far holds."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.topic = topic
        self.messages = []  # confluent_kafka.Message, in arrival order
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.message.max.bytes": 2_000_000,
        })
        self._consumer.subscribe([topic])

    def read_until(self, predicate, *, timeout: float = 60.0, what: str = "messages"):
        from driftsite.polling import wait_until

        def step():
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                assert msg.error() is None, msg.error()
                self.messages.append(msg)
            return predicate(self.messages)

        return wait_until(step, timeout=timeout, interval=0.0, what=what)

    def read_count(self, count: int, *, timeout: float = 60.0):
        self.read_until(lambda msgs: len(msgs) >= count, timeout=timeout, what=f"{count} messages on {self.topic}")
        return self.messages

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def topic_reader(kafka_bootstrap):
    readers = []

    def make(topic: str) -> TopicReader:
        reader = TopicReader(kafka_bootstrap, topic)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


@pytest.fixture
def manage_py():
    """Start ``manage.py <args>`` as a subprocess that uses the test database (the tests that use
    it are ``transaction=True``, so what they and the subprocess write is committed and visible)."""
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "driftsite.settings", "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    procs = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), *args, "--skip-checks"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


class ManualClock:
    """The drift controller's clock for tests: ``wait`` advances time instantly (no sleeping) and
    reports a stop request once ``stop_at`` (seconds) would be passed."""

    def __init__(self, start: dt.datetime | None = None, stop_at: float | None = None) -> None:
        self.start = start or dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
        self.t = 0.0
        self.stop_at = stop_at
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.t)

    def wait(self, seconds: float) -> bool:
        seconds = max(0.0, seconds)
        self.waits.append(seconds)
        if self.stop_at is not None and self.t + seconds >= self.stop_at:
            self.t = max(self.t, self.stop_at)
            return True
        self.t += seconds
        return False


@pytest.fixture
def manual_clock():
    return ManualClock
