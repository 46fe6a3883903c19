"""A short per-query result cache with single flight, for the hot ClickHouse list reads.

Under load many requests ask for the same page at once (a dashboard polled by many browsers, a
load test). Each would run the same ClickHouse query, and on chDB the queries queue on the one
engine handle. With ``API_QUERY_CACHE_SECONDS`` (default 1 s, at most 1 s, 0 turns it off):

- a result is reused for requests with the *same* parameters that arrive within that many
  seconds of the moment its query started; so an answer reflects the stored data as of at most
  ``API_QUERY_CACHE_SECONDS`` before the request (plus nothing else: there is no other layer);
- while a query runs, identical requests wait for it instead of queueing another copy behind it
  (single flight), unless it started longer than the allowed staleness ago;
- a query that fails is not cached: each waiter then runs the query itself;
- per process, bounded (``max_entries``, oldest dropped first); results are shared, so callers
  must not mutate them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class _Entry:
    __slots__ = ("started", "done", "value", "failed")

    def __init__(self, started: float):
        self.started = started
        self.done = threading.Event()
        self.value: Any = None
        self.failed = False


class QueryCache:
    def __init__(self, *, max_entries: int = 256, clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._clock = clock

    def get(self, key: Hashable, compute: Callable[[], T], *, ttl_seconds: float) -> T:
        """``compute()``'s result for ``key``, reused for ``ttl_seconds`` from its start."""
        if ttl_seconds <= 0:
            return compute()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            fresh = entry is not None and now - entry.started < ttl_seconds and not entry.failed
            if not fresh:
                entry = _Entry(now)
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
                owner = True
            else:
                owner = False
        if owner:
            try:
                entry.value = compute()
            except BaseException:
                entry.failed = True
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                raise
            finally:
                entry.done.set()
            return entry.value
        entry.done.wait()
        if entry.failed:
            return compute()
        return entry.value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
