"""A produce/consume round trip through the real local Kafka broker (KRaft)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings


def test_keyed_messages_round_trip_in_order_per_key(kafka_bootstrap, kafka_topic):
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = [(f"key-{i % 3}".encode(), f"value-{i}".encode()) for i in range(30)]
    errors = []
    for key, value in sent:
        producer.produce(kafka_topic, key=key, value=value, on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer({
        "bootstrap.servers": kafka_bootstrap,
        "group.id": f"test-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([kafka_topic])
    received = []
    try:
        for _ in range(600):  # bounded: at most ~60 s of 0.1 s polls
            if len(received) == len(sent):
                break
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received.append((msg.key(), msg.value(), msg.partition()))
    finally:
        consumer.close()

    assert sorted((k, v) for k, v, _ in received) == sorted(sent)
    by_key: dict[bytes, list] = {}
    for key, value, partition in received:
        by_key.setdefault(key, []).append((partition, value))
    for key, items in by_key.items():
        assert len({p for p, _ in items}) == 1, f"{key!r} spread over partitions"
        assert [v for _, v in items] == [v for k, v in sent if k == key]


def test_project_topics_exist_with_the_configured_partitions(kafka_bootstrap):
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    topics = metadata.topics
    assert len(topics[settings.KAFKA_EVENTS_TOPIC].partitions) == settings.KAFKA_EVENTS_PARTITIONS
    assert settings.KAFKA_DLQ_TOPIC in topics
    assert settings.KAFKA_CONTROL_TOPIC in topics
