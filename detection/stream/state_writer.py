"""Key statuses and detector checkpoints, written off the consumer thread.

Why: neither is the batch's own result (the transitions are), and on chDB each write costs a
fixed 12-14 ms plus the rows (a status write of a few thousand keys took 50-60 ms on a quiet
2-core machine and several hundred ms on a busy one). On the consumer thread every batch behind
such a write waited for it: that was the tail of the produce -> written latency. So the
consumer thread only hands them over (a dict update, a snapshot already taken), and one
background thread writes them.

What is written, in which order:

- **Statuses** are coalesced: the newest per key (by the key's newest event time) and written at
  most every ``status_flush_seconds``.
- **Checkpoints** (a partition's detector snapshot + the offset of its next message) are written
  in the same round, AFTER the statuses pending when they were taken. So a stored checkpoint is
  never ahead of the stored statuses: a restart that restores it and replays from its offset
  leaves no key with a stale status.
- A checkpoint may be stored later than the offsets it covers are committed. That is safe: a
  partition is restored at its checkpoint's offset, not at the committed one, and replaying
  from there reproduces the same transitions (deterministic ids, absorbed by the tables). The
  one unsafe case, a partition that has no checkpoint at all (it would restart from the committed
  offset with empty state), is handled by the caller: it writes a partition's first checkpoint
  with :meth:`StateWriter.write_now` before committing the partition's offsets.

Failure policy: a failed round keeps everything (a newer status of the same key or a newer
checkpoint of the same partition replaces the kept one, so memory stays bounded by keys and
partitions) and is retried with exponential backoff; the component reports itself degraded and
recovers by itself. Detection and commits go on meanwhile. :meth:`write_now` (first checkpoints,
revoke, shutdown) writes on the caller's thread and raises on failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from detection.clickhouse import writers
from detection.core.detector import KeyStatus
from detection.stream.health import Component
from detection.stream.periodic import PeriodicWorker

log = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]
CheckpointRow = tuple[str, str, int, int, bytes]  # consumer_group, topic, partition, next_offset, state


class StateWriter:
    def __init__(
        self,
        *,
        clickhouse,
        database: str,
        status_flush_seconds: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        name: str = "state",
    ) -> None:
        self.clickhouse = clickhouse
        self.database = database
        self.clock = clock
        self.health = Component(name)
        self._lock = threading.Lock()  # guards the pending dicts (held only for swaps and merges)
        self._write_lock = threading.Lock()  # one write round at a time (background or write_now)
        self._statuses: dict[tuple[str, str], KeyStatus] = {}
        self._checkpoints: dict[TopicPartitionKey, CheckpointRow] = {}
        self._worker = PeriodicWorker(lambda: self._write_round() is None, period=status_flush_seconds,
                                      backoff_max=backoff_max, name="state-writer")
        self.statuses_written = 0
        self.checkpoints_written = 0

    # -- consumer thread -------------------------------------------------------------------------
    def add_statuses(self, statuses: Iterable[KeyStatus]) -> None:
        """Keep the newest status per key (cheap: a dict update, no I/O)."""
        with self._lock:
            pending = self._statuses
            for status in statuses:
                pending[(status.source_id, status.metric)] = status

    def add_checkpoint(self, row: CheckpointRow) -> None:
        """Queue a partition's checkpoint behind the statuses pending now (replaces an older one)."""
        with self._lock:
            self._checkpoints[(row[1], row[2])] = row

    def forget(self, tp: TopicPartitionKey) -> None:
        """Drop a queued checkpoint of a partition this consumer no longer owns."""
        with self._lock:
            self._checkpoints.pop(tp, None)

    def write_now(self) -> None:
        """Write everything pending on the caller's thread (raises, keeping it, on failure)."""
        error = self._write_round()
        if error is not None:
            raise error

    # -- background thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after one last attempt to write what is pending."""
        self._worker.stop(timeout)

    def _write_round(self) -> Exception | None:
        with self._write_lock:
            with self._lock:
                statuses, self._statuses = self._statuses, {}
                checkpoints, self._checkpoints = self._checkpoints, {}
            if not statuses and not checkpoints:
                return None
            now_ms = int(self.clock() * 1000)
            statuses_done = False
            try:
                if statuses:
                    writers.write_statuses(self.clickhouse, self.database, list(statuses.values()), updated_at_ms=now_ms)
                statuses_done = True
                if checkpoints:
                    writers.write_checkpoints(self.clickhouse, self.database, list(checkpoints.values()),
                                              created_at_ms=now_ms)
            except Exception as exc:
                self._keep({} if statuses_done else statuses, checkpoints)
                self.health.failed(exc)
                log.warning("status/checkpoint write failed (%s); %d statuses and %d checkpoints kept for retry",
                            exc, len(self._statuses), len(self._checkpoints))
                return exc
            self.statuses_written += len(statuses)
            self.checkpoints_written += len(checkpoints)
            self.health.ok()
            return None

    def _keep(self, statuses: dict, checkpoints: dict) -> None:
        """Put back what a failed round took, unless something newer arrived meanwhile."""
        with self._lock:
            for key, status in statuses.items():
                newer = self._statuses.get(key)
                if newer is None or newer.last_event_time_ms < status.last_event_time_ms:
                    self._statuses[key] = status
            for tp, row in checkpoints.items():
                self._checkpoints.setdefault(tp, row)
