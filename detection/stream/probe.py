"""A Kafka metadata round trip, for /health (the API itself imports no Kafka client)."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient


class KafkaUnavailable(Exception):
    pass


def kafka_metadata(bootstrap_servers: str, *, timeout_seconds: float) -> dict[str, Any]:
    """Brokers and topics known to ``bootstrap_servers``; raises :class:`KafkaUnavailable`."""
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "socket.timeout.ms": max(10, int(timeout_seconds * 1000)),
            "socket.connection.setup.timeout.ms": max(1000, int(timeout_seconds * 1000)),
            # librdkafka would print every refused connection to stderr; route it to logging.
            "logger": logging.getLogger("kafka.health"),
        }
    )
    try:
        metadata = admin.list_topics(timeout=timeout_seconds)
    except KafkaException as exc:
        raise KafkaUnavailable(str(exc.args[0]) if exc.args else "no metadata from the brokers") from exc
    return {"brokers": len(metadata.brokers), "topics": len(metadata.topics)}
