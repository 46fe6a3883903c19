"""Lag-1 autocorrelation of a key's values in event-time order, exact and incremental.

``rho = sum_i (x_i - m)(x_{i+1} - m) / sum_i (x_i - m)^2`` over the values sorted by event time
(``m`` = their mean; the usual estimator, numpy:
``np.dot(d[:-1], d[1:]) / np.dot(d, d)`` with ``d = x - x.mean()``).

:class:`LagOneState` keeps sums of ``y = x - K`` (``K`` = the first value ever folded, so
values far from zero lose nothing): count, ``sum y``, ``sum y^2``, ``sum y_i*y_{i+1}`` over
consecutive pairs, the first and the last ``y`` and the last event time. Expanding the
numerator in those sums gives ``rho`` exactly (up to rounding) from O(1) state.

Folds: :meth:`LagOneState.extend` takes one batch of new values (the baseline fold's new
events, deduplicated and sorted by event time) and adds the pairs inside it plus ONE boundary
pair, (last value of the previous folds, first value of the batch). So over several folds the
result equals the one-shot estimate over all values in event-time order as long as each batch
is later in event time than what was folded before (the normal case: the fold reads by ingest
time, and events arrive roughly in event-time order). An event that arrives later than a fold
boundary with an event time before it is paired where it is folded (with its batch
neighbours), not re-sorted into the history: its mean and variance contributions are exact,
only its one or two pairs are approximate, a bounded and negligible effect on ``rho``.

>>> s = LagOneState.empty().extend([1.0, 2.0, 3.0]).extend([2.0, 1.0])
>>> round(s.value(), 6), round(lag_one_autocorrelation([1.0, 2.0, 3.0, 2.0, 1.0]), 6)
(0.057143, 0.057143)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["LagOneState", "lag_one_autocorrelation"]


class LagOneState(NamedTuple):
    count: int
    shift: float  # K
    s1: float  # sum y
    s2: float  # sum y^2
    sp: float  # sum y_i y_{i+1}
    first: float  # first y (0.0 while empty)
    last: float  # last y

    @classmethod
    def empty(cls) -> "LagOneState":
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def extend(self, values: Sequence[float]) -> "LagOneState":
        """Fold one batch of values, in event-time order, after everything folded so far."""
        if not values:
            return self
        count, shift, s1, s2, sp, first, last = self
        if count == 0:
            shift = float(values[0])
        ys = [float(x) - shift for x in values]
        add1 = math.fsum(ys)
        add2 = math.fsum(y * y for y in ys)
        pairs = math.fsum(a * b for a, b in zip(ys, ys[1:]))
        if count:
            pairs += last * ys[0]  # the boundary pair
        else:
            first = ys[0]
        return LagOneState(count + len(ys), shift, s1 + add1, s2 + add2, sp + pairs, first, ys[-1])

    def then(self, later: "LagOneState") -> "LagOneState":
        """This state followed by ``later`` (a batch folded after it, with its own shift): the
        batch's sums are re-expressed at this state's shift, plus the one boundary pair."""
        if later.count == 0:
            return self
        if self.count == 0:
            return later
        n, k, s1, s2, sp, first, last = later
        c = k - self.shift
        s1c = s1 + n * c
        s2c = s2 + 2.0 * c * s1 + n * c * c
        spc = sp + c * (2.0 * s1 - first - last) + (n - 1) * c * c
        return LagOneState(
            self.count + n, self.shift, self.s1 + s1c, self.s2 + s2c,
            self.sp + spc + self.last * (first + c), self.first, last + c,
        )

    def value(self) -> float | None:
        """``rho``; None for fewer than 3 values or no spread."""
        n, _, s1, s2, sp, first, last = self
        if n < 3:
            return None
        mean = s1 / n
        denominator = s2 - s1 * mean
        if not denominator > 0.0:
            return None
        numerator = sp - mean * (2.0 * s1 - first - last) + (n - 1) * mean * mean
        rho = numerator / denominator
        return max(-1.0, min(1.0, rho))


def lag_one_autocorrelation(values: Sequence[float]) -> float | None:
    """One-shot ``rho`` of values already in event-time order."""
    return LagOneState.empty().extend(values).value()
