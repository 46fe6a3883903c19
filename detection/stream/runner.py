"""The consumer loop shared by the detector and the raw-event ingester.

Steps, in order (after Arroyo's shape, our own code):

1. **poll** a batch of messages (``consume``): no side effect.
2. **process** each message through the handler (decode, detect): pure, in memory. A message
   that is not a valid event goes to the handler's dead-letter path; its offset still counts as
   processed.
3. **flush** when the batch reaches ``max_events`` or ``max_seconds``: the handler writes what
   the batch produced (ClickHouse inserts, dead letters delivered, Postgres upserts). This is the
   point of no return.
4. **commit** the next offset of every partition in the batch, synchronously, only after the
   flush succeeded. A crash anywhere before this replays the batch; deterministic ids make the
   replay idempotent.

Rebalance: before partitions are revoked the pending batch is flushed and committed, then the
handler drops their state. On assignment the handler may choose the start offset of each
partition (the detector restores a checkpoint and replays from it).

Shutdown (SIGTERM/SIGINT via ``stop``): stop polling, flush, commit, close.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

log = logging.getLogger(__name__)


class BatchHandler(Protocol):
    def process_batch(self, messages: list[Message]) -> None:
        """Handle messages (no error messages among them) in order; no side effects yet."""

    def flush(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Write everything processed so far; ``next_offsets`` are the offsets about to be
        committed (the next unprocessed message of each partition touched since the last flush)."""

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Called on assignment; may set ``tp.offset`` to choose where each partition starts."""

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Called after the pending batch was flushed and committed; drop partition state."""

    def idle(self) -> None:
        """Called about once per loop turn, for periodic work (config reload, housekeeping)."""


class StreamRunner:
    def __init__(
        self,
        *,
        consumer_config: dict,
        topics: list[str],
        handler: BatchHandler,
        max_events: int,
        max_seconds: float,
        poll_seconds: float = 0.05,
        name: str = "stream",
    ) -> None:
        self.handler = handler
        self.topics = topics
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.poll_seconds = poll_seconds
        self.name = name
        config = {
            "on_commit": self._committed,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **consumer_config,
        }
        self.consumer = Consumer(config)
        self._offsets: dict[tuple[str, int], int] = {}  # next offsets of the open batch
        self._batch_events = 0
        self._batch_started = 0.0
        self.batches = 0
        self.committed_messages = 0

    def _committed(self, error, partitions) -> None:
        if error is not None:
            log.warning("%s: offset commit failed (the batch will be replayed after a restart): %s", self.name, error)

    # -- rebalance callbacks (run inside consume()) ------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.handler.assigned(consumer, partitions)
        consumer.assign(partitions)
        log.info("%s: assigned %s", self.name, [(p.topic, p.partition, p.offset) for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush_and_commit(sync=True)
        self.handler.revoked(partitions)
        log.info("%s: revoked %s", self.name, [(p.topic, p.partition) for p in partitions])

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                self.run_once()
            self.flush_and_commit(sync=True)
        finally:
            self.consumer.close()  # leaves the group (revoke callback flushes first)

    def run_once(self) -> None:
        messages = self.consumer.consume(num_messages=self.max_events, timeout=self.poll_seconds)
        offsets = self._offsets
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
                offsets[(message.topic(), message.partition())] = message.offset() + 1
            elif error.code() != KafkaError._PARTITION_EOF:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("%s: consumer error %s", self.name, error)
        if good:
            if not self._batch_events:
                self._batch_started = time.monotonic()
            self.handler.process_batch(good)
            self._batch_events += len(good)
        if offsets and (
            self._batch_events >= self.max_events or time.monotonic() - self._batch_started >= self.max_seconds
        ):
            self.flush_and_commit()
        self.handler.idle()

    def flush_and_commit(self, *, sync: bool = False) -> None:
        """Write the open batch, then commit its offsets (never the other way round).

        The commit is sent after the write succeeded; between batches it does not wait for the
        broker's answer (a lost commit only widens the replay after a crash, which is
        idempotent). Before partitions are revoked and at shutdown it waits.
        """
        self.handler.flush(self._offsets)
        if not self._offsets:
            return
        commits = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._offsets.items()]
        self.consumer.commit(offsets=commits, asynchronous=not sync)
        self.batches += 1
        self.committed_messages += self._batch_events
        self._offsets = {}
        self._batch_events = 0
