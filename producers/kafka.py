"""Kafka for the producers and the drift controller (confluent-kafka; no Django here: the
commands read the settings and pass plain values in).

- :class:`KeyedProducer`: idempotent (``enable.idempotence``, ``acks=all``), keyed, batched
  (``linger.ms`` / ``batch.size`` / lz4) producer of event payloads, counting delivery
  confirmations and errors from the delivery callbacks.
- :class:`ControlPublisher`: publishes one control command and waits until the broker has
  acknowledged it (the drift controller records ground truth only after that).
- :class:`ControlListener`: the drift producer's view of the control topic. It ASSIGNS itself
  every partition at the end offset read when it starts (rather than subscribing with
  ``auto.offset.reset=latest``): a group subscription resolves "latest" only after the group
  join (Kafka delays a new group's first rebalance by ~3 s), so a command published during
  that gap would be lost. With explicit offsets, every command published after the listener
  was created is seen, and it is created before the first event is produced. Each instance
  has its own ``group.id`` and never commits.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from detection.core.events import kafka_key
from producers.control import ControlCommand, InvalidCommand, decode_command, encode_command

__all__ = [
    "ControlListener",
    "ControlPublisher",
    "KafkaSetupError",
    "KeyedProducer",
    "PublishError",
    "producer_config",
]


METADATA_REFRESH_MS = 10_000
"""Full metadata refresh period of every client (see producer_config)."""


class PublishError(RuntimeError):
    """A message was not acknowledged by the broker."""


class KafkaSetupError(RuntimeError):
    """The broker or a topic is not usable (unknown topic, broker unreachable)."""


def producer_config(bootstrap_servers: str, *, delivery_timeout_seconds: float = 600.0, throughput: bool = True) -> dict:
    """librdkafka settings of an idempotent producer.

    ``throughput`` batches (20 ms linger, up to 1 MB / 10k messages per batch, lz4); the control
    publisher turns it off (one message at a time, sent at once). ``delivery_timeout_seconds``
    bounds how long a message may stay unacknowledged before its delivery callback reports an
    error (``message.timeout.ms``); until then librdkafka retries (idempotently: no duplicates, no
    reordering), so a broker outage shorter than it loses nothing.
    """
    config = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": max(1000, int(delivery_timeout_seconds * 1000)),
        "client.id": f"driftwatch-producer-{uuid.uuid4().hex[:8]}",
        # After a broker restart librdkafka can keep a partition's leader as unknown ("new leader
        # -1 not found in cache") until its next full metadata refresh, 5 min by default: one of
        # three producers in the chaos suite's broker restart stalled that way. Refresh often.
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
    }
    if throughput:
        config.update({
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 200_000,
            "queue.buffering.max.kbytes": 262_144,
        })
    else:
        config["linger.ms"] = 0
    return config


def _topic_partitions(client, topic: str, timeout: float, topic_wait_seconds: float) -> list[int]:
    """The topic's partition ids. A topic that was just created can be missing from a broker's
    metadata for a moment, so an unknown topic is asked for again for ``topic_wait_seconds``."""
    deadline = time.monotonic() + topic_wait_seconds
    while True:
        found = client.list_topics(topic, timeout=timeout).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        if time.monotonic() >= deadline:
            reason = found.error if found is not None else "not in the metadata"
            raise KafkaSetupError(f"topic {topic!r} is not usable: {reason}")
        time.sleep(0.1)  # metadata propagation backoff (not test synchronisation)


class KeyedProducer:
    """Send keyed payloads to one topic; count what the broker confirmed or refused."""

    def __init__(self, config: dict, topic: str) -> None:
        self.topic = topic
        self._producer = Producer(config)
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.error_counts: Counter[str] = Counter()
        self.first_error: str | None = None
        self.backpressure_seconds = 0.0  # time send() waited for room in the local queue

    def _on_delivery(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        self.error_counts[err.name()] += 1
        if self.first_error is None:
            self.first_error = f"{err.name()}: {err.str()}"

    def send(self, key: bytes, value: bytes) -> None:
        """Queue one message; when the local queue is full (the broker is slow or away), wait,
        serving callbacks, until there is room: backpressure, never a dropped message."""
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                waited = time.monotonic()
                self._producer.poll(0.05)
                self.backpressure_seconds += time.monotonic() - waited
        self.sent += 1

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float) -> int:
        """Wait for every queued message's callback; return how many are still unconfirmed."""
        return self._producer.flush(timeout)


class ControlPublisher:
    """Publish control commands one at a time, each confirmed by the broker before returning."""

    def __init__(self, config: dict, topic: str, *, timeout_seconds: float = 30.0) -> None:
        self.topic = topic
        self.timeout_seconds = timeout_seconds
        self._producer = Producer(config)

    def publish(self, command: ControlCommand) -> tuple[int, int]:
        """Send ``command`` keyed by its target; return ``(partition, offset)`` once acknowledged.

        Raises :class:`PublishError` if the broker refused it or did not confirm in time.
        """
        results: list = []
        self._producer.produce(
            self.topic,
            key=kafka_key(command.source_id, command.metric),
            value=encode_command(command),
            on_delivery=lambda err, msg: results.append((err, msg)),
        )
        remaining = self._producer.flush(self.timeout_seconds)
        if not results:
            raise PublishError(
                f"{command.command} {command.source_id}/{command.metric} not confirmed within "
                f"{self.timeout_seconds:g}s ({remaining} message(s) pending)"
            )
        err, msg = results[0]
        if err is not None:
            raise PublishError(f"{command.command} {command.source_id}/{command.metric}: {err.name()}: {err.str()}")
        return msg.partition(), msg.offset()

    def check_topic(self, timeout: float = 10.0, topic_wait_seconds: float = 5.0) -> None:
        """Raise :class:`KafkaSetupError` unless the broker answers and knows the topic."""
        try:
            _topic_partitions(self._producer, self.topic, timeout, topic_wait_seconds)
        except KafkaException as exc:
            raise KafkaSetupError(f"control topic {self.topic!r}: {exc}") from exc

    def close(self, timeout: float = 5.0) -> int:
        """Wait up to ``timeout`` for anything in flight, then drop what is left; return its count."""
        remaining = self._producer.flush(timeout)
        if remaining:
            self._producer.purge()
            self._producer.flush(0)
        return remaining


class ControlListener:
    """Read control commands published after this listener was created (see module docstring)."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        group_id: str | None = None,
        timeout_seconds: float = 15.0,
        topic_wait_seconds: float = 5.0,
        on_invalid: Callable[[bytes, str], None] | None = None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id or f"drift-producer-{uuid.uuid4().hex[:12]}"
        self.invalid = 0
        self._on_invalid = on_invalid
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "enable.partition.eof": False,
        })
        try:
            partitions = _topic_partitions(self._consumer, topic, timeout_seconds, topic_wait_seconds)
            assignment = []
            for partition in partitions:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_seconds, cached=False
                )
                assignment.append(TopicPartition(topic, partition, high))
            self._consumer.assign(assignment)
        except KafkaException as exc:
            self._consumer.close()
            raise KafkaSetupError(f"control topic {topic!r}: {exc}") from exc
        except KafkaSetupError:
            self._consumer.close()
            raise

    def poll(self, timeout: float = 0.0) -> list[ControlCommand]:
        """Commands that arrived (waits up to ``timeout`` seconds for the first one)."""
        commands: list[ControlCommand] = []
        for msg in self._consumer.consume(num_messages=500, timeout=timeout):
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self._invalid(b"", f"consumer error: {error}")
                continue
            try:
                commands.append(decode_command(msg.value()))
            except InvalidCommand as exc:
                self._invalid(msg.value() or b"", str(exc))
        return commands

    def _invalid(self, raw: bytes, reason: str) -> None:
        self.invalid += 1
        if self._on_invalid is not None:
            self._on_invalid(raw, reason)

    def close(self) -> None:
        self._consumer.close()
