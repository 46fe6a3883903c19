"""Source liveness in PostgreSQL, kept off the consumer thread.

Failure policy: PostgreSQL is not needed to detect drift, so it can never stop or stall
detection. The consumer thread only hands over ``{source_id: wall-clock ms}`` (a dict merge);
a background thread upserts them (one set-based statement) every ``record_seconds`` and marks
silent sources inactive. What it could not write is kept, coalesced (first/last seen per source:
memory is bounded by the number of distinct sources) and retried with exponential backoff; the
component reports itself degraded meanwhile and recovers by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from detection.stream.health import Component
from detection.stream.periodic import PeriodicWorker

log = logging.getLogger(__name__)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class SourceTracker:
    def __init__(
        self,
        *,
        record_sources: Callable[..., int],
        deactivate_sources: Callable[..., int],
        record_seconds: float = 10.0,
        inactivity_seconds: float = 300.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_thread_exit: Callable[[], None] = lambda: None,
        name: str = "sources",
    ) -> None:
        self.record_sources = record_sources
        self.deactivate_sources = deactivate_sources
        self.inactivity_seconds = inactivity_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, list[int]] = {}  # source_id -> [first_ms, last_ms]
        self._next_deactivate = 0.0
        self._worker = PeriodicWorker(self._step, period=record_seconds, backoff_max=backoff_max,
                                      name="source-tracker", on_thread_exit=on_thread_exit)
        self.health = Component(name)
        self.recorded = 0

    # -- consumer thread -------------------------------------------------------------------------
    def note(self, seen: dict[str, int]) -> None:
        """Remember that each source was seen at the given wall-clock ms (cheap, never blocks on I/O)."""
        if not seen:
            return
        with self._lock:
            pending = self._pending
            for source_id, ms in seen.items():
                span = pending.get(source_id)
                if span is None:
                    pending[source_id] = [ms, ms]
                elif ms > span[1]:
                    span[1] = ms

    # -- background thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after one last attempt to write what is pending."""
        self._worker.stop(timeout)

    def _step(self) -> bool:
        ok = self.write_pending()
        if ok and time.monotonic() >= self._next_deactivate:
            ok = self._deactivate()
            self._next_deactivate = time.monotonic() + max(5.0, self.inactivity_seconds / 10)
        return ok

    def write_pending(self) -> bool:
        """Upsert what is pending; on failure keep it (merged with newer sightings). Returns success."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return True
        try:
            self.record_sources(seen={s: (_utc(first), _utc(last)) for s, (first, last) in batch.items()})
        except Exception as exc:
            with self._lock:  # put back, keeping the widest span per source
                for source_id, (first, last) in batch.items():
                    span = self._pending.get(source_id)
                    if span is None:
                        self._pending[source_id] = [first, last]
                    else:
                        span[0] = min(span[0], first)
                        span[1] = max(span[1], last)
            self.health.failed(exc)
            log.warning("source bookkeeping failed (%s); %d sources kept for retry", exc, len(self._pending))
            return False
        self.recorded += len(batch)
        self.health.ok()
        return True

    def _deactivate(self) -> bool:
        cutoff = _utc(int((self.clock() - self.inactivity_seconds) * 1000))
        try:
            self.deactivate_sources(last_seen_before=cutoff)
        except Exception as exc:
            self.health.failed(exc)
            log.warning("marking inactive sources failed (%s); retrying", exc)
            return False
        return True
