"""An event-time sliding window with exact, numerically stable count / mean / sample std.

Semantics
---------
The window is the half-open event-time interval ``(newest_ms - window_ms, newest_ms]`` where
``newest_ms`` is the newest event time ever added. An event whose time is exactly
``newest_ms - window_ms`` is OUTSIDE: it is evicted when the newest time reaches it, and an
out-of-order event at or before that bound is not inserted (:meth:`EventTimeWindow.add` returns
``False``). Events are kept sorted by event time (stable: equal times keep arrival order) in two
parallel typed arrays used as queues, ``array('q')`` of times and ``array('d')`` of values, so an
event costs 16 bytes and no Python object (a deque would hold an ``int`` and a ``float`` object
per event, ~72 bytes). Eviction advances a head index; the dead prefix is cut off (one memmove)
once it is at least as long as the live part, so memory stays under ~2x the live events and
every operation is O(1) amortised. An out-of-order event is placed with bisect + ``insert``
(O(n) memmove, rare by construction: only within the allowed lateness).

Numerics
--------
Welford's add/remove drifts over millions of updates, and plain sums of squares lose everything
for values like ``1e9 + 1e-3 * noise``. The window instead keeps sums of deviations from a shift
``K`` (an exact mean of the window at the last recompute): ``s1 = sum(x - K)``,
``s2 = sum((x - K)**2)``. Near the data, ``x - K`` is exact (Sterbenz), so the 1e9 offset costs
nothing. The sums are recomputed EXACTLY from the window (``math.fsum``, new ``K`` = current mean):

- when the window empties (``K`` := the next value, sums := 0);
- after ``4 * count + 256`` additions since the last recompute (amortised O(1) per event; bounds
  the accumulated rounding of the add/remove sequence);
- when a statistic is read and ``s2 - s1**2/n`` has cancelled below ``1e-5`` of the squares
  added since the last recompute (the window's spread collapsed after a regime change, or the
  data moved far from ``K``): the only case in which accumulated rounding could matter.

So the mean is kept to ~1e-15 relative and the sample std to ~1e-10 relative of the exact window
contents, however long the stream (the unit tests check 1e-9 / 1e-6 against an exact rational
reference and numpy, including a 1,000,000-update run at 1e9 + 1e-3 noise). Limits of double
precision itself: a mean that cancels to ~0 (+1e15 and -1e15 in one window) is exact only to
~1e-12 of the values' magnitude, and spreads below ~1e-150 (subnormal squares) lose relative
precision.

>>> w = EventTimeWindow(window_ms=1000)
>>> for t, x in [(0, 1.0), (500, 2.0), (999, 3.0)]:
...     _ = w.add(t, x)
>>> w.count, w.mean, w.std
(3, 2.0, 1.0)
>>> w.add(1000, 4.0)       # the newest time is now 1000: the event at t=0 leaves the window
True
>>> w.count, w.mean
(3, 3.0)
>>> w.add(0, 9.0)          # at the (exclusive) lower bound 1000 - 1000: not inserted
False
>>> w.add(200, 9.0)        # out of order, inside the window: placed by event time
True
>>> list(w.items())
[(200, 9.0), (500, 2.0), (999, 3.0), (1000, 4.0)]
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

__all__ = ["EventTimeWindow"]

_fsum = math.fsum
_sqrt = math.sqrt
_copysign = math.copysign

CANCELLATION_GUARD = 1e5
"""Recompute when the centred sum of squares is below 1/CANCELLATION_GUARD of the squares added."""

RECOMPUTE_EVERY_FACTOR = 4
RECOMPUTE_EVERY_MIN = 256
COMPACT_MIN = 16
"""The dead prefix of the arrays is cut off once it is >= COMPACT_MIN and >= the live part."""


class EventTimeWindow:
    """Sliding event-time window of ``(event_time_ms, value)`` with exact rolling statistics.

    ``window_ms`` is public configuration; all other state is private. Times are integers
    (any unit; the detector uses epoch milliseconds).
    """

    __slots__ = (
        "window_ms",
        "_times",
        "_values",
        "_head",
        "_newest",
        "_shift",
        "_s1",
        "_s2",
        "_s2_added",
        "_budget",
    )

    def __init__(self, window_ms: int) -> None:
        if not window_ms > 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms!r}")
        self.window_ms = window_ms
        self._times = array("q")
        self._values = array("d")
        self._head = 0  # index of the oldest live event; [0, _head) is dead
        self._newest: int | None = None
        self._shift = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._s2_added = 0.0
        self._budget = RECOMPUTE_EVERY_MIN

    # -- feeding -----------------------------------------------------------------------------
    def add(self, t: int, x: float) -> bool:
        """Insert ``x`` at event time ``t``; evict what falls out; ``False`` if ``t`` is outside.

        ``t`` newer than every time seen: O(1) amortised. Older: placed by bisect if still
        inside the window (after equal times already present), else not inserted.

        Used by tests and the examples here: :class:`~detection.core.detector.KeyedDetector` runs
        the same steps inlined on its per-key windows (both are checked against exact references).
        """
        times = self._times
        values = self._values
        newest = self._newest
        if newest is None or t > newest:
            self._newest = t
            if len(times) > self._head:
                cutoff = t - self.window_ms
                if times[self._head] <= cutoff:
                    self._evict_through(cutoff)
            if len(times) == self._head:
                self._reset_empty(x)
            times.append(t)
            values.append(x)
        else:
            if t <= newest - self.window_ms:
                return False
            if len(times) == self._head:
                self._reset_empty(x)
            i = bisect_right(times, t, self._head)
            times.insert(i, t)
            values.insert(i, x)
        d = x - self._shift
        self._s1 += d
        dd = d * d
        self._s2 += dd
        self._s2_added += dd
        self._budget -= 1
        if self._budget <= 0:
            self._recompute()
        return True

    def contains(self, t: int, x: float) -> bool:
        """Whether an event with exactly this time and value (same sign of zero) is in the window.

        Within one key, the event_id is a function of (value, event_time_ms), so this is the
        duplicate test by event_id without storing ids.
        """
        times = self._times
        head = self._head
        n = len(times)
        if n == head or t < times[head] or t > times[-1]:
            return False
        values = self._values
        i = bisect_left(times, t, head)
        while i < n and times[i] == t:
            v = values[i]
            if v == x and (v != 0.0 or _copysign(1.0, v) == _copysign(1.0, x)):
                return True
            i += 1
        return False

    def set_window_ms(self, window_ms: int) -> None:
        """Change the window length, keeping (and evicting from) the current contents."""
        if not window_ms > 0:
            raise ValueError(f"window_ms must be > 0, got {window_ms!r}")
        self.window_ms = window_ms
        if len(self._times) > self._head:
            cutoff = self._newest - window_ms
            if self._times[self._head] <= cutoff:
                self._evict_through(cutoff)
                self._recompute()

    def clear(self) -> None:
        """Forget every event (the newest time too)."""
        del self._times[:]
        del self._values[:]
        self._head = 0
        self._newest = None
        self._shift = self._s1 = self._s2 = self._s2_added = 0.0
        self._budget = RECOMPUTE_EVERY_MIN

    def contents(self) -> tuple[array, array]:
        """Copies of the live event times (``array('q')``) and values (``array('d')``), in
        event-time order: what :meth:`load` takes back (snapshots)."""
        head = self._head
        return self._times[head:], self._values[head:]

    def load(self, times: array, values: array, newest_ms: int | None) -> None:
        """Replace the contents by ``times`` / ``values`` as :meth:`contents` gave them (sorted
        by time, inside the window ending at ``newest_ms``, the newest time ever added) and
        recompute the sums exactly. The arrays are taken over, not copied."""
        self._times = times
        self._values = values
        self._head = 0
        self._newest = newest_ms
        self._recompute()

    def _reset_empty(self, x: float) -> None:
        # The window is empty: drop the dead prefix, re-anchor the shift at the next value.
        del self._times[:]
        del self._values[:]
        self._head = 0
        self._shift = x
        self._s1 = self._s2 = self._s2_added = 0.0
        self._budget = RECOMPUTE_EVERY_MIN

    def _evict_through(self, cutoff: int) -> None:
        """Evict every event with time <= cutoff (the caller checked the oldest one is)."""
        times = self._times
        values = self._values
        shift = self._shift
        s1 = self._s1
        s2 = self._s2
        head = self._head
        n = len(times)
        while head < n and times[head] <= cutoff:
            d = values[head] - shift
            s1 -= d
            s2 -= d * d
            head += 1
        self._s1 = s1
        self._s2 = s2
        if head >= COMPACT_MIN and head + head >= n:
            del times[:head]
            del values[:head]
            head = 0
        self._head = head

    def _recompute(self) -> None:
        values = self._values[self._head :]
        n = len(values)
        self._budget = RECOMPUTE_EVERY_FACTOR * n + RECOMPUTE_EVERY_MIN
        if n == 0:
            self._s1 = self._s2 = self._s2_added = 0.0
            return
        shift = _fsum(values) / n
        deviations = [x - shift for x in values]
        self._shift = shift
        self._s1 = _fsum(deviations)
        self._s2 = self._s2_added = _fsum([d * d for d in deviations])

    # -- reading -----------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._values) - self._head

    def __len__(self) -> int:
        return len(self._values) - self._head

    @property
    def newest_ms(self) -> int | None:
        """The newest event time ever added (the window's upper bound), or ``None``."""
        return self._newest

    @property
    def start_ms(self) -> int | None:
        """The exclusive lower bound ``newest_ms - window_ms`` (``None`` before any event)."""
        return None if self._newest is None else self._newest - self.window_ms

    def _centred_m2(self, n: int) -> float:
        """``sum((x - mean)**2)`` for ``n >= 1`` values, recomputing first if it cancelled."""
        numer = self._s2 - self._s1 * self._s1 / n
        if numer * CANCELLATION_GUARD < self._s2_added:
            self._recompute()
            numer = self._s2 - self._s1 * self._s1 / n
        return numer

    @property
    def mean(self) -> float:
        """Mean of the values in the window (``0.0`` when empty)."""
        n = len(self._values) - self._head
        if n == 0:
            return 0.0
        self._centred_m2(n)  # the same guard: the shift may be far from the data
        return self._shift + self._s1 / n

    @property
    def variance(self) -> float:
        """Sample variance (``n - 1``); ``0.0`` below two values; never negative."""
        n = len(self._values) - self._head
        if n < 2:
            return 0.0
        numer = self._centred_m2(n)
        if numer <= 0.0:
            return 0.0
        return numer / (n - 1)

    @property
    def std(self) -> float:
        """Sample standard deviation; ``0.0`` below two values."""
        return _sqrt(self.variance)

    def items(self) -> Iterator[tuple[int, float]]:
        """``(event_time_ms, value)`` pairs in event-time order."""
        head = self._head
        return zip(self._times[head:].tolist(), self._values[head:].tolist())

    def values(self) -> list[float]:
        """The values in event-time order."""
        return self._values[self._head :].tolist()

    def __repr__(self) -> str:
        return f"EventTimeWindow(window_ms={self.window_ms}, count={self.count})"
