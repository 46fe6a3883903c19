"""Fixtures for the stream services on the real broker, Postgres and chDB."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from detection.core.events import encode_event, kafka_key

T0_MS = 1_700_000_000_000  # fixed event-time origin: the scenarios are simulated, not wall-clock


@pytest.fixture
def topics(kafka_bootstrap, settings):
    """Fresh events + dead-letter topics and a fresh consumer group, wired into settings."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    suffix = uuid.uuid4().hex[:10]
    events, dlq = f"test.events.{suffix}", f"test.dlq.{suffix}"
    futures = admin.create_topics([NewTopic(events, num_partitions=3, replication_factor=1),
                                   NewTopic(dlq, num_partitions=1, replication_factor=1)])
    for f in futures.values():
        f.result(timeout=30)
    settings.KAFKA_EVENTS_TOPIC = events
    settings.KAFKA_DLQ_TOPIC = dlq
    settings.KAFKA_DETECTOR_GROUP = f"test-detector-{suffix}"
    settings.KAFKA_INGEST_GROUP = f"test-ingest-{suffix}"
    settings.DETECTOR_BATCH_MAX_SECONDS = 0.05
    # simulated event times are years old: accept them (future skew is what is checked)
    yield {"events": events, "dlq": dlq}
    for f in admin.delete_topics([events, dlq]).values():
        f.result(timeout=30)


def produce(bootstrap: str, topic: str, messages) -> int:
    """Produce (key, value) pairs and wait for every delivery; returns the count."""
    # lz4 + a large message.max.bytes: poison tests send a 5 MB (compressible) record, as an
    # attacker's producer can
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 10,
                         "compression.type": "lz4", "message.max.bytes": 10_000_000})
    errors = []
    n = 0
    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, msg: err and errors.append(err))
        n += 1
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    return n


def scenario_events(*, keys: int, per_key: int, shifts: dict[int, tuple[int, int, float]], seed: int = 7,
                    step_ms: int = 1000, mean: float = 50.0, std: float = 2.0):
    """Seeded stream over ``keys`` keys, one event per key per step, interleaved in time order.

    ``shifts`` maps a key index to (first index, last index, shift in sigmas): the ground truth.
    Returns [(key bytes, value bytes)] and the per-key (source_id, metric) names.
    """
    rng = np.random.default_rng(seed)
    names = [(f"src-{k:03d}", "cpu") for k in range(keys)]
    noise = rng.normal(0.0, std, size=(per_key, keys))
    messages = []
    for i in range(per_key):
        t = T0_MS + i * step_ms
        for k, (source_id, metric) in enumerate(names):
            value = mean + noise[i, k]
            shift = shifts.get(k)
            if shift and shift[0] <= i <= shift[1]:
                value += shift[2] * std
            messages.append((kafka_key(source_id, metric), encode_event(source_id, metric, float(value), t)))
    return messages, names
