"""Detector checkpoints: each partition's detector state + the offset of its next message.

Stored in ClickHouse ``detector_checkpoints``. A partition is restored from its newest
checkpoint when assigned, and consumption restarts at the checkpoint's offset, so the events
after it are replayed through exactly the state they originally met (same transitions, same
ids, absorbed by the ReplacingMergeTree tables).

A snapshot is taken on the consumer thread at a batch boundary, after the batch's transitions
were written (so a checkpoint is never ahead of what was written), and handed to the
:class:`~detection.stream.state_writer.StateWriter`, which stores it off the consumer thread
(see there why a checkpoint may be stored after its offsets were committed). A partition's first
checkpoint is the exception: until one is stored, a restart would begin at the committed offset
with empty state, so the caller stores it (:meth:`CheckpointStore.unstored`) before committing.

Failure policy: a failing restore (ClickHouse unreachable at assignment) raises out of the
rebalance, and the supervisor restarts the part. An unreadable snapshot is logged and the
partition starts from its committed offset with empty state (keys re-initialise).
"""

from __future__ import annotations

import logging
import time

from detection.clickhouse.state_readers import checkpoint_get
from detection.core.detector import KeyedDetector
from detection.core.snapshot import SnapshotError, restore, snapshot
from detection.stream.state_writer import StateWriter

log = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]


class CheckpointStore:
    def __init__(self, *, clickhouse, database: str, consumer_group: str, every_seconds: float,
                 writer: StateWriter) -> None:
        self.clickhouse = clickhouse
        self.database = database
        self.consumer_group = consumer_group
        self.every_seconds = every_seconds
        self.writer = writer
        self._saved_at: dict[TopicPartitionKey, float] = {}  # when the last snapshot was taken
        self._stored: set[TopicPartitionKey] = set()  # partitions with a checkpoint known to be stored

    def restore(self, tp: TopicPartitionKey, detector: KeyedDetector) -> int | None:
        """Load the newest checkpoint of ``tp`` into ``detector``; return its offset, or None.

        A partition without a checkpoint is due for one at its first flush: otherwise a crash
        in its first ``every_seconds`` would restart it from its committed offset with empty
        state, and its keys would re-initialise (different transitions from an uninterrupted run).
        """
        self._saved_at.pop(tp, None)
        self._stored.discard(tp)
        found = checkpoint_get(self.clickhouse, self.database, consumer_group=self.consumer_group,
                               topic=tp[0], partition=tp[1])
        if found is None:
            return None
        self._saved_at[tp] = time.monotonic()
        self._stored.add(tp)
        offset, blob = found
        try:
            keys = restore(detector, blob)
        except SnapshotError as exc:
            log.error("checkpoint of %s/%d unusable (%s): starting from the committed offset", tp[0], tp[1], exc)
            self._saved_at.pop(tp, None)
            self._stored.discard(tp)
            return None
        log.info("restored %d keys of %s/%d from checkpoint at offset %d", keys, tp[0], tp[1], offset)
        return offset

    def due(self, tp: TopicPartitionKey) -> bool:
        return time.monotonic() - self._saved_at.get(tp, 0.0) >= self.every_seconds

    def unstored(self, tp: TopicPartitionKey) -> bool:
        """True while no checkpoint of ``tp`` is known to be stored (see the module docstring)."""
        return tp not in self._stored

    def take(self, items: list[tuple[TopicPartitionKey, int, KeyedDetector]]) -> None:
        """Snapshot ``(tp, next_offset, detector)`` now and queue the snapshots for the writer."""
        now = time.monotonic()
        for tp, offset, detector in items:
            self.writer.add_checkpoint((self.consumer_group, tp[0], tp[1], offset, snapshot(detector)))
            self._saved_at[tp] = now

    def store_now(self, items: list[tuple[TopicPartitionKey, int, KeyedDetector]]) -> None:
        """Snapshot, queue and write everything pending now, on this thread (raises on failure)."""
        self.take(items)
        self.writer.write_now()
        self._stored.update(tp for tp, _, _ in items)

    def forget(self, tp: TopicPartitionKey) -> None:
        self._saved_at.pop(tp, None)
        self._stored.discard(tp)
        self.writer.forget(tp)
