"""Detector checkpoints: each partition's detector state + the offset of its next message.

Stored in ClickHouse ``detector_checkpoints``. A partition is restored from its newest
checkpoint when assigned, and consumption restarts at the checkpoint's offset, so the events
after it are replayed through exactly the state they originally met (same transitions, same
ids, absorbed by the ReplacingMergeTree tables).

Failure policy: a failing :meth:`CheckpointStore.save` fails the flush it is part of, so the
batch is not committed and is retried (a checkpoint is never ahead of what was written). A
failing restore (ClickHouse unreachable at assignment) raises out of the rebalance, and the
supervisor restarts the part. An unreadable snapshot is logged and the partition starts from
its committed offset with empty state (keys re-initialise).
"""

from __future__ import annotations

import logging
import time

from detection.clickhouse import writers
from detection.clickhouse.state_readers import checkpoint_get
from detection.core.detector import KeyedDetector
from detection.core.snapshot import SnapshotError, restore, snapshot

log = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]


class CheckpointStore:
    def __init__(self, *, clickhouse, database: str, consumer_group: str, every_seconds: float) -> None:
        self.clickhouse = clickhouse
        self.database = database
        self.consumer_group = consumer_group
        self.every_seconds = every_seconds
        self._saved_at: dict[TopicPartitionKey, float] = {}

    def restore(self, tp: TopicPartitionKey, detector: KeyedDetector) -> int | None:
        """Load the newest checkpoint of ``tp`` into ``detector``; return its offset, or None.

        A partition without a checkpoint is due for one at its first flush: otherwise a crash
        in its first ``every_seconds`` would restart it from its committed offset with empty
        state, and its keys would re-initialise (different transitions from an uninterrupted run).
        """
        self._saved_at.pop(tp, None)
        found = checkpoint_get(self.clickhouse, self.database, consumer_group=self.consumer_group,
                               topic=tp[0], partition=tp[1])
        if found is None:
            return None
        self._saved_at[tp] = time.monotonic()
        offset, blob = found
        try:
            keys = restore(detector, blob)
        except SnapshotError as exc:
            log.error("checkpoint of %s/%d unusable (%s): starting from the committed offset", tp[0], tp[1], exc)
            self._saved_at.pop(tp, None)
            return None
        log.info("restored %d keys of %s/%d from checkpoint at offset %d", keys, tp[0], tp[1], offset)
        return offset

    def due(self, tp: TopicPartitionKey) -> bool:
        return time.monotonic() - self._saved_at.get(tp, 0.0) >= self.every_seconds

    def save(self, items: list[tuple[TopicPartitionKey, int, KeyedDetector]], *, now_ms: int) -> None:
        """Write ``(tp, next_offset, detector)`` snapshots in one insert (raises on failure)."""
        if not items:
            return
        rows = [(self.consumer_group, tp[0], tp[1], offset, snapshot(detector)) for tp, offset, detector in items]
        writers.write_checkpoints(self.clickhouse, self.database, rows, created_at_ms=now_ms)
        now = time.monotonic()
        for tp, _, _ in items:
            self._saved_at[tp] = now

    def forget(self, tp: TopicPartitionKey) -> None:
        self._saved_at.pop(tp, None)
