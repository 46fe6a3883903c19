"""The consumer loop shared by the detector and the raw-event ingester.

Steps, in order (after Arroyo's shape, our own code):

1. **poll** a batch of messages (``consume``): no side effect.
2. **process** each message through the handler (decode, detect): in memory. A message that is
   not a valid event goes to the handler's dead-letter buffer; its offset still counts as
   processed.
3. **flush** when the batch reaches ``max_events`` or ``max_seconds``: the handler writes what
   the batch produced (its ClickHouse inserts, dead letters confirmed). This is the
   point of no return.
4. **commit** the next offset of every partition in the batch, only after the flush succeeded.

Failure policy ("commit only what was written"):

- A failing **flush** keeps the handler's buffers (handlers clear them only after every write
  succeeded). The runner pauses its partitions (backpressure: nothing more is read, memory
  stays bounded), waits with exponential backoff and flushes again. Nothing of the batch is
  committed until a flush succeeds. After ``retry_seconds`` of consecutive failures it gives up
  with :class:`FlushFailed`, without committing; the supervisor then restarts the part, which
  resumes from the committed offsets (and the detector from its checkpoints).
- Any other error (the handler's processing, a fatal consumer error) leaves the loop at once:
  the runner is marked failed and closes its consumer WITHOUT flushing or committing (the
  revoke callback that ``close()`` fires sees the failed mark). Buffered results are simply
  dropped: their offsets were never committed, so they are read again.
- :meth:`kill` stops the loop the same way, as a crash would (tests and the chaos suite use it).

Rebalance: before partitions are revoked the pending batch is flushed and committed, then the
handler drops their state. If that flush fails (or the runner already failed) nothing is
committed, the handler drops the revoked state unwritten, and the loop raises
:class:`FlushFailed` so the part restarts from committed offsets. On assignment the handler may
choose the start offset of each partition (the detector restores a checkpoint and replays from
it).

Shutdown (SIGTERM/SIGINT via ``stop``): stop polling, flush (with the same retries, bounded by
``retry_seconds``), commit, close.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

log = logging.getLogger(__name__)


class FlushFailed(RuntimeError):
    """The batch could not be written; nothing of it was committed."""


class BatchHandler(Protocol):
    def process_batch(self, messages: list[Message]) -> None:
        """Handle messages (no error messages among them) in order: in memory, except dead
        letters, which are produced asynchronously and confirmed by :meth:`flush`."""

    def flush(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Write everything processed so far; ``next_offsets`` are the offsets about to be
        committed (the next unprocessed message of each partition touched since the last flush).
        Must keep its buffers if it raises, so that a retry writes them."""

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Called on assignment; may set ``tp.offset`` to choose where each partition starts."""

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Called after the pending batch was flushed and committed; drop partition state."""

    def discard(self, partitions: list[TopicPartition]) -> None:
        """Called instead of :meth:`revoked` when the batch could not be written: drop the
        partitions' state and buffers WITHOUT writing anything (they are replayed elsewhere)."""

    def idle(self) -> None:
        """Called about once per loop turn, for quick periodic work (apply a loaded config)."""

    def close(self) -> None:
        """Called once when the loop has ended and the consumer is closed: stop helpers."""


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
        retry_seconds: float = 120.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        name: str = "stream",
    ) -> None:
        self.handler = handler
        self.topics = topics
        self.max_events = max_events
        self.max_seconds = max_seconds
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
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
        self._failed = False  # set on any error: from then on nothing is flushed or committed
        self._retrying = False  # inside a flush retry: a rebalance now must not flush again
        self._killed = threading.Event()
        self._stop: threading.Event | None = None
        self.batches = 0
        self.committed_messages = 0
        self.flush_failures = 0

    def _committed(self, error, partitions) -> None:
        if error is not None:
            log.warning("%s: offset commit failed (the batch will be replayed after a restart): %s", self.name, error)

    # -- rebalance callbacks (run inside consume() and close()) -----------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.handler.assigned(consumer, partitions)
        consumer.assign(partitions)
        log.info("%s: assigned %s", self.name, [(p.topic, p.partition, p.offset) for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._retrying:
            self._failed = True
        if not self._failed:
            try:
                self.flush_and_commit(sync=True)
            except Exception:
                log.exception("%s: flush before revoke failed; nothing of the batch is committed", self.name)
                self._failed = True
        if self._failed:
            self.handler.discard(partitions)
            log.warning("%s: revoked %s without committing the unwritten batch",
                        self.name, [(p.topic, p.partition) for p in partitions])
            return
        self.handler.revoked(partitions)
        log.info("%s: revoked %s", self.name, [(p.topic, p.partition) for p in partitions])

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not stop.is_set() and not self._killed.is_set():
                self.run_once()
                if self._failed:
                    raise FlushFailed(f"{self.name}: a rebalance met an unwritten batch; restarting from committed offsets")
            if not self._killed.is_set():
                self.flush_and_commit(sync=True)
        except BaseException:
            self._failed = True
            raise
        finally:
            if self._killed.is_set():
                self._failed = True
            # Leaves the group. Its revoke callback flushes and commits only if nothing failed.
            try:
                self.consumer.close()
            finally:
                self.handler.close()

    def kill(self) -> None:
        """Stop as a crash would: no flush, no commit (the loop exits at its next turn)."""
        self._killed.set()

    def run_once(self) -> None:
        if self._batch_events:  # an open batch closes on time: never wait past its deadline
            timeout = min(self.poll_seconds, max(0.0, self._batch_started + self.max_seconds - time.monotonic()))
        else:
            timeout = min(self.poll_seconds, self.max_seconds)
        polled_at = time.monotonic()
        messages = self.consumer.consume(num_messages=self.max_events, timeout=timeout)
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
                # consume() returns when its timeout ends (unless max_events arrived first), so the
                # batch's first messages may have waited since the call began: its age counts from
                # there. (Counting from the return made a batch last up to twice max_seconds.)
                self._batch_started = polled_at
            self.handler.process_batch(good)
            self._batch_events += len(good)
        if offsets and (
            self._batch_events >= self.max_events or time.monotonic() - self._batch_started >= self.max_seconds
        ):
            self.flush_and_commit()
        self.handler.idle()

    def flush_and_commit(self, *, sync: bool = False) -> None:
        """Write the open batch, then commit its offsets (never the other way round).

        A failing write is retried with backoff while the partitions are paused; see the module
        docstring. The commit is sent after the write succeeded; between batches it does not
        wait for the broker's answer (a lost commit only widens the replay after a crash, which
        is idempotent). Before partitions are revoked and at shutdown it waits.
        """
        self._flush_with_retry()
        if not self._offsets:
            return
        commits = [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._offsets.items()]
        self.consumer.commit(offsets=commits, asynchronous=not sync)
        self.batches += 1
        self.committed_messages += self._batch_events
        self._offsets = {}
        self._batch_events = 0

    def _flush_with_retry(self) -> None:
        try:
            self.handler.flush(self._offsets)
            return
        except Exception as exc:
            first_error = exc
        deadline = time.monotonic() + self.retry_seconds
        delay = self.backoff_initial
        paused = self._pause()
        self._retrying = True
        try:
            error: Exception = first_error
            while True:
                self.flush_failures += 1
                if time.monotonic() + delay > deadline or self._killed.is_set():
                    self._failed = True
                    raise FlushFailed(f"{self.name}: batch not written after {self.retry_seconds:g}s: {error}") from error
                log.warning("%s: write failed (%s: %s); nothing committed, retrying in %.1f s",
                            self.name, type(error).__name__, error, delay)
                self._wait(delay)
                try:
                    self.handler.flush(self._offsets)
                    log.info("%s: write succeeded after %d failure(s)", self.name, self.flush_failures)
                    return
                except Exception as exc:
                    error = exc
                delay = min(self.backoff_max, delay * 2)
        finally:
            self._retrying = False
            if paused and not self._failed:
                self._resume(paused)

    def _wait(self, seconds: float) -> None:
        """Back off, still serving the consumer (group heartbeats and rebalance callbacks) while
        its partitions are paused, so that the group does not evict a merely waiting member."""
        until = time.monotonic() + seconds
        while not self._killed.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            for message in self.consumer.consume(num_messages=1, timeout=min(left, 0.2)):
                if message.error() is None:  # paused partitions deliver nothing; defensive
                    self._failed = True  # its position moved past an unprocessed message
            if self._failed:  # a rebalance happened meanwhile: give up, restart from commits
                raise FlushFailed(f"{self.name}: partitions revoked while the batch was unwritten")

    def _pause(self) -> list[TopicPartition]:
        try:
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.pause(assignment)
            return assignment
        except KafkaException:
            return []

    def _resume(self, partitions: list[TopicPartition]) -> None:
        try:
            current = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
            keep = [tp for tp in partitions if (tp.topic, tp.partition) in current]
            if keep:
                self.consumer.resume(keep)
        except KafkaException:
            pass
