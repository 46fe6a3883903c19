"""Dead-letter path: the original bytes of an invalid message, with the reason in headers.

Delivery is confirmed (flush) before the batch's offsets are committed, so an invalid message
is never lost: it is either in the dead-letter topic or its offset was not committed.
"""

from __future__ import annotations

from confluent_kafka import Message, Producer


class DeadLetterError(RuntimeError):
    pass


class DeadLetters:
    def __init__(self, *, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer({
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.max.bytes": 8_000_000,
        })
        self._errors: list[str] = []
        self.sent = 0

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self._errors.append(str(err))

    def send(self, message: Message, reason: str, detail: str) -> None:
        headers = [
            ("reason", reason.encode()),
            ("detail", detail.encode()[:1000]),
            ("source_topic", message.topic().encode()),
            ("source_partition", str(message.partition()).encode()),
            ("source_offset", str(message.offset()).encode()),
        ]
        self._producer.produce(self.topic, key=message.key(), value=message.value(), headers=headers,
                               on_delivery=self._delivered)
        self._producer.poll(0)
        self.sent += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every dead letter is acknowledged; raise if one could not be delivered."""
        remaining = self._producer.flush(timeout)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise DeadLetterError(f"dead-letter delivery failed ({remaining} pending): {errors[:3]}")
