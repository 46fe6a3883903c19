"""Dead-letter path: the original bytes of an invalid message, with the reason in headers.

Invariants (each has tests):

- **Never lost.** A dead letter is kept until the broker acknowledged it. :meth:`DeadLetters.flush`
  waits for every pending one and raises :class:`DeadLetterError` if any is not confirmed; the
  failed ones stay pending and are produced again on the next :meth:`flush` (the batch's
  offsets are not committed meanwhile, so nothing is lost even if the process dies).
- **Never fails on size.** Letters are lz4-compressed. A value larger than ``max_value_bytes``
  (default 256 KiB, far below the broker's 1 MiB default ``message.max.bytes`` even before
  compression) is truncated to that many bytes and marked with the headers ``truncated=1`` and
  ``original_size``; ``source_topic``/``source_partition``/``source_offset`` always point at
  the original record, which stays in the source topic for its retention. Keys and the
  original headers are bounded the same way (``max_key_bytes``, ``max_header_bytes``).

Headers: ``reason``, ``detail`` (first 1000 bytes), ``source_topic``, ``source_partition``,
``source_offset``, then the original record's headers prefixed ``orig.``.
"""

from __future__ import annotations

import logging

from confluent_kafka import Message, Producer

log = logging.getLogger(__name__)

MAX_VALUE_BYTES = 256 * 1024
MAX_KEY_BYTES = 4096
MAX_HEADER_BYTES = 16 * 1024


class DeadLetterError(RuntimeError):
    pass


class DeadLetters:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        max_value_bytes: int = MAX_VALUE_BYTES,
        delivery_timeout_seconds: float = 30.0,
    ) -> None:
        self.topic = topic
        self.max_value_bytes = max_value_bytes
        self._producer = Producer({
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            "message.timeout.ms": max(1000, int(delivery_timeout_seconds * 1000)),
            "topic.metadata.refresh.interval.ms": 10_000,  # recover fast from stale leaders after a broker restart
        })
        self._next_id = 0
        self._pending: dict[int, tuple] = {}  # id -> (key, value, headers), until acknowledged
        self._failed: dict[int, str] = {}  # id -> last delivery error
        self.sent = 0
        self.truncated = 0

    def _delivered(self, letter_id: int):
        def callback(err, msg) -> None:
            if err is None:
                self._pending.pop(letter_id, None)
                self._failed.pop(letter_id, None)
            else:
                self._failed[letter_id] = str(err)

        return callback

    def send(self, message: Message, reason: str, detail: str) -> None:
        """Queue a dead letter for ``message`` (delivery is confirmed by :meth:`flush`)."""
        key, value, headers = self._letter(message, reason, detail)
        letter_id = self._next_id
        self._next_id += 1
        self._pending[letter_id] = (key, value, headers)
        self._produce(letter_id)
        self.sent += 1

    def _letter(self, message: Message, reason: str, detail: str) -> tuple[bytes | None, bytes | None, list]:
        value = message.value()
        key = message.key()
        headers = [
            ("reason", reason.encode()),
            ("detail", detail.encode("utf-8", "replace")[:1000]),
            ("source_topic", message.topic().encode()),
            ("source_partition", str(message.partition()).encode()),
            ("source_offset", str(message.offset()).encode()),
        ]
        if value is not None and len(value) > self.max_value_bytes:
            headers += [("truncated", b"1"), ("original_size", str(len(value)).encode())]
            value = value[: self.max_value_bytes]
            self.truncated += 1
        if key is not None and len(key) > MAX_KEY_BYTES:
            headers += [("key_truncated", b"1"), ("original_key_size", str(len(key)).encode())]
            key = key[:MAX_KEY_BYTES]
        budget = MAX_HEADER_BYTES
        for name, header_value in message.headers() or ():
            header_value = header_value or b""
            size = len(name) + len(header_value)
            if size > budget:
                headers.append(("orig_headers_truncated", b"1"))
                break
            budget -= size
            headers.append((f"orig.{name}", header_value))
        return key, value, headers

    def _produce(self, letter_id: int) -> None:
        key, value, headers = self._pending[letter_id]
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value, headers=headers,
                                       on_delivery=self._delivered(letter_id))
                break
            except BufferError:  # local queue full: serve callbacks until there is room
                self._producer.poll(0.1)
        self._producer.poll(0)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every dead letter is acknowledged; raise if one could not be delivered.

        Letters whose delivery failed are produced again first, so a retried flush after a
        broker outage delivers them (possibly twice: the dead-letter topic is at-least-once).
        """
        for letter_id in list(self._failed):
            del self._failed[letter_id]
            self._produce(letter_id)
        remaining = self._producer.flush(timeout)
        if remaining or self._failed:
            errors = sorted(set(self._failed.values()))
            raise DeadLetterError(
                f"dead-letter delivery failed ({remaining} in flight, {len(self._failed)} refused, "
                f"{len(self._pending)} kept for retry): {errors[:3]}"
            )
