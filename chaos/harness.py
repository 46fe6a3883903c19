"""What every chaos case needs: private topics and groups, the real stack as a process, the
real services stopped and started, deterministic input, and exact audits of what was stored.

Each case gets a :class:`Run`: its own events/DLQ/control topics, its own consumer groups and
its own chDB directory, so cases never see each other's data. PostgreSQL and Kafka are the
worktree's real services (``scripts/services``); ``run_stack`` and the producers are the real
management commands, started as processes exactly as an operator would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from detection.core.events import encode_event, event_id_for, kafka_key
from driftsite.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EVENTS_PARTITIONS = 6


def say(message: str) -> None:
    """Progress goes to stderr; stdout is kept for the one JSON line."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- deterministic input ------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes | None
    event_id: int | None = None  # set for valid events: the id the stores must hold exactly once
    headers: tuple = ()


def drift_scenario(*, prefix: str, metric: str, keys: int, events_per_key: int, start_ms: int,
                   step_ms: int = 200, seed: int = 7) -> list[Message]:
    """Valid events of ``keys`` keys, interleaved in event-time order; fixed by the seed.

    Every third key gets a +4 sigma mean shift over the middle fifth of its events and every
    third key (offset by one) a 4x standard deviation there, so the detector starts and ends
    drifts; the rest stay N(0, 1), matching the baseline the case stores (mean 0, std 1).
    """
    series = []
    for k in range(keys):
        rng = random.Random(seed * 1_000_003 + k)
        source_id = f"{prefix}-{k:03d}"
        lo, hi = int(events_per_key * 0.4), int(events_per_key * 0.6)
        values = []
        for i in range(events_per_key):
            x = rng.gauss(0.0, 1.0)
            if lo <= i < hi:
                if k % 3 == 0:
                    x += 4.0
                elif k % 3 == 1:
                    x *= 4.0
            values.append(round(x, 6))
        series.append((source_id, values))
    out = []
    for i in range(events_per_key):
        t = start_ms + i * step_ms
        for source_id, values in series:
            out.append(Message(kafka_key(source_id, metric), encode_event(source_id, metric, values[i], t),
                               event_id_for(source_id, metric, values[i], t)))
    return out


def scenario_keys(prefix: str, keys: int) -> list[str]:
    return [f"{prefix}-{k:03d}" for k in range(keys)]


# --- Kafka ----------------------------------------------------------------------------------------
class Kafka:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topics(self, topics: dict[str, int]) -> None:
        admin = self.admin()  # keep the handle alive until the futures resolve
        futures = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1) for t, n in topics.items()])
        for f in futures.values():
            f.result(timeout=30)

    def delete_topics(self, topics: list[str]) -> None:
        try:
            admin = self.admin()
            for f in admin.delete_topics(topics).values():
                f.result(timeout=30)
        except Exception as exc:  # cleanup is best effort; the names are unique anyway
            say(f"could not delete topics {topics}: {exc}")

    def produce(self, topic: str, messages: list[Message], *, timeout: float = 120.0) -> list[tuple[int, int]]:
        """Send and wait for every acknowledgement; raises unless all were delivered.

        Returns each message's (partition, offset), in input order."""
        failed: list[str] = []
        positions: list[tuple[int, int]] = [(-1, -1)] * len(messages)
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 20,
                             "compression.type": "lz4", "message.max.bytes": 8_000_000})

        def delivered_at(index):
            def delivered(err, msg):
                if err is not None:
                    failed.append(str(err))
                else:
                    positions[index] = (msg.partition(), msg.offset())
            return delivered

        for index, m in enumerate(messages):
            while True:
                try:
                    producer.produce(topic, key=m.key, value=m.value, headers=list(m.headers) or None,
                                     on_delivery=delivered_at(index))
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(timeout)
        if remaining or failed:
            raise RuntimeError(f"produce to {topic}: {remaining} pending, errors {failed[:3]}")
        return positions

    def read_all(self, topic: str, *, timeout: float = 60.0) -> list:
        """Every message of ``topic`` (all partitions, from the start to the current end)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"chaos-reader-{uuid.uuid4().hex[:8]}",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "fetch.message.max.bytes": 10_000_000})
        try:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {}
            tps = []
            for p in parts:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[p] = high
                    tps.append(TopicPartition(topic, p, low))
            consumer.assign(tps)
            out = []
            deadline = time.monotonic() + timeout
            while ends and time.monotonic() < deadline:
                for msg in consumer.consume(500, timeout=0.5):
                    if msg.error():
                        continue
                    out.append(msg)
                    if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                        ends.pop(msg.partition(), None)
            if ends:
                raise TimeoutError(f"reading {topic}: partitions {sorted(ends)} not read to the end")
            return out
        finally:
            consumer.close()

    def group_lag(self, group: str, topic: str) -> int:
        """Messages of ``topic`` that ``group`` has not committed."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            lag = 0
            for tp in consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
                lag += high - (tp.offset if tp.offset >= 0 else low)
            return lag
        finally:
            consumer.close()

    def group_caught_up(self, group: str, topic: str) -> bool:
        """Whether ``group`` has committed every message of ``topic``."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for tp in consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
                if (tp.offset if tp.offset >= 0 else low) < high:
                    return False
            return True
        except KafkaException:
            return False
        finally:
            consumer.close()


# --- the services ------------------------------------------------------------------------------
def services(action: str, component: str) -> float:
    """``scripts/services <action> <component>`` (the worktree's own PostgreSQL or Kafka); seconds."""
    started = time.monotonic()
    subprocess.run([str(ROOT / "scripts" / "services"), action, component], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=sys.stderr)
    return time.monotonic() - started


# --- one isolated run of the stack --------------------------------------------------------------
@dataclass
class Run:
    """Private topics, groups and chDB directory; starts, kills and audits ``run_stack``."""

    name: str
    base_env: dict
    workdir: Path
    kafka: Kafka
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    batch_max_events: int = 2000
    topic: str | None = None  # share another run's input topic (a reference run)
    stack: subprocess.Popen | None = None
    port: int = 0
    crashes: int = 0
    starts: int = 0
    owns_topic: bool = False

    def __post_init__(self) -> None:
        self.chdb = self.workdir / f"chdb-{self.name}-{self.suffix}"
        self.log = self.workdir / f"stack-{self.name}-{self.suffix}.log"
        if self.topic is None:
            self.topic = f"chaos.{self.name}.{self.suffix}"
            self.owns_topic = True
        self.dlq_topic = f"chaos.{self.name}.dlq.{self.suffix}"
        self.control_topic = f"chaos.{self.name}.control.{self.suffix}"
        self.detector_group = f"chaos-{self.name}-detector-{self.suffix}"
        self.ingest_group = f"chaos-{self.name}-ingest-{self.suffix}"
        topics = {self.dlq_topic: 1, self.control_topic: 1}
        if self.owns_topic:
            topics[self.topic] = EVENTS_PARTITIONS
        self.kafka.create_topics(topics)

    @property
    def env(self) -> dict:
        return {
            **self.base_env,
            "KAFKA_EVENTS_TOPIC": self.topic,
            "KAFKA_DLQ_TOPIC": self.dlq_topic,
            "KAFKA_CONTROL_TOPIC": self.control_topic,
            "KAFKA_DETECTOR_GROUP": self.detector_group,
            "KAFKA_INGEST_GROUP": self.ingest_group,
            "CLICKHOUSE_URL": f"chdb://{self.chdb}",
            "DETECTOR_BATCH_MAX_EVENTS": str(self.batch_max_events),
            "DETECTOR_METRICS_PORT": "0",
            "CONFIG_REFRESH_SECONDS": "2",
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True, extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.starts += 1
        self.stack = subprocess.Popen(
            [PYTHON, "manage.py", "run_stack", "--port", str(self.port), "--baseline-interval", "1000000", *extra_args],
            cwd=ROOT, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Until /health answers (200 or 503: the process serves); False if the stack exited."""
        def answered():
            if self.stack.poll() is not None:
                return True
            return http_status(f"{self.base_url}/health", timeout=3) in (200, 503)

        wait_until(answered, timeout=timeout, interval=0.2, what=f"{self.name}: run_stack to serve /health")
        return self.stack.poll() is None

    def alive(self) -> bool:
        return self.stack is not None and self.stack.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.stack.pid, signal.SIGKILL)
        self.stack.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (drain, write, commit) and wait; returns the exit status."""
        if self.stack is None:
            return None
        if self.alive():
            self.stack.send_signal(signal.SIGTERM)
            try:
                self.stack.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                say(f"{self.name}: run_stack did not stop in {timeout:.0f} s; killing it")
                self.kill9()
        return self.stack.returncode

    def caught_up(self) -> bool:
        return (self.kafka.group_caught_up(self.detector_group, self.topic)
                and self.kafka.group_caught_up(self.ingest_group, self.topic))

    def run_until_caught_up(self, *, timeout: float, max_restarts: int = 3) -> bool:
        """Keep the stack running until both groups committed everything; a stack that exits on
        its own is a crash: counted, and restarted (at most ``max_restarts`` times)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                self.crashes += 1
                say(f"{self.name}: run_stack exited with {self.stack.returncode} (crash {self.crashes}); "
                    f"last log lines:\n{tail(self.log, 6)}")
                if self.crashes > max_restarts:
                    return False
                self.start()
                continue
            if self.caught_up():
                return True
            time.sleep(0.5)
        return False

    def audit(self) -> dict:
        """What the stores hold, read by a separate process (chDB locks its directory, so the
        stack must be stopped first)."""
        assert not self.alive(), "stop the stack before auditing its chDB directory"
        out = subprocess.run([PYTHON, "-m", "chaos.audit"], cwd=ROOT, env=self.env, check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def cleanup(self) -> None:
        if self.alive():
            self.kill9()
        topics = [self.dlq_topic, self.control_topic] + ([self.topic] if self.owns_topic else [])
        self.kafka.delete_topics(topics)


def http_status(url: str, *, timeout: float = 5.0, method: str = "GET") -> int | None:
    """The status of a request, or None when nothing answered."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except Exception:
        return None


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def transition_key(t: dict) -> tuple:
    """What makes two runs' transitions equal (detected_at is wall clock and differs)."""
    return (t["source_id"], t["metric"], t["event_type"], t["event_time_ms"], t["drift_event_id"])
