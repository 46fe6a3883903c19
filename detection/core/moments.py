"""Numerically stable running moments: count, mean and M2 (sum of squared deviations).

One convention everywhere in the project: the standard deviation is the SAMPLE standard
deviation, ``sqrt(M2 / (count - 1))`` (Bessel's correction, numpy ``ddof=1``). With fewer than
two values it is ``0.0`` (never NaN); the scoring rule then treats a zero baseline std explicitly
(see :mod:`detection.core.scores`).

- :class:`Moments`: Welford's update with ``add``, for a stream of single values (replay builds
  its baselines with it).
- :func:`merge`: Chan et al.'s parallel combination of two sets of moments. The Airflow baseline
  job folds each new batch's (count, mean, M2), aggregated in ClickHouse, into the stored
  baseline with it, so the whole history keeps its weight.
- :func:`moments_of`: exact two-pass moments of a finite collection (``math.fsum``).

The rolling window (:mod:`detection.core.window`) does not use Welford: it keeps shifted sums
that are periodically recomputed exactly from its contents (see there for why).

>>> a = moments_of([1.0, 2.0, 3.0])
>>> b = moments_of([10.0, 20.0])
>>> count, mean, m2 = merge(*a, *b)
>>> count, mean, round(sample_std(count, m2), 6)
(5, 7.2, 7.981228)
>>> m = Moments()
>>> for x in (1.0, 2.0, 3.0, 10.0):
...     m.add(x)
>>> m.count, m.mean, round(m.std, 6)
(4, 4.0, 4.082483)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["Moments", "merge", "moments_of", "sample_std", "sample_variance"]


def sample_variance(count: int, m2: float) -> float:
    """``M2 / (count - 1)``; ``0.0`` for fewer than two values; never negative.

    >>> sample_variance(3, 2.0), sample_variance(1, 0.0), sample_variance(2, -1e-18)
    (1.0, 0.0, 0.0)
    """
    if count < 2 or not m2 > 0.0:
        return 0.0
    return m2 / (count - 1)


def sample_std(count: int, m2: float) -> float:
    """Sample standard deviation ``sqrt(M2 / (count - 1))``; ``0.0`` for fewer than two values."""
    return math.sqrt(sample_variance(count, m2))


def merge(
    count_a: int, mean_a: float, m2_a: float, count_b: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """Combine the moments of two disjoint sets (Chan, Golub & LeVeque): ``(count, mean, m2)``.

    Stable for large offsets: the update uses the difference of the means, never raw sums of
    squares. Either side may be empty (count 0).

    Precision: exact up to the rounding of the inputs. A mean handed in as a double is rounded
    to half an ulp of its magnitude, which moves the merged std by about ``ulp(mean) / std``
    relative (1e-7 for 1e9 +- 1, but 1e-4 for 1e9 +- 1e-3 in tiny batches). When values are far
    from zero compared with their spread, aggregate ``value - shift`` for a fixed shift (e.g.
    the stored baseline mean; the subtraction is exact near the data), merge those moments and
    add the shift back to the mean: then the result keeps full precision.

    >>> merge(0, 0.0, 0.0, 2, 5.0, 2.0)
    (2, 5.0, 2.0)
    >>> merge(2, 1e9, 2.0, 2, 1e9 + 2.0, 2.0)
    (4, 1000000001.0, 8.0)
    """
    if count_a < 0 or count_b < 0:
        raise ValueError("counts must be >= 0")
    if count_b == 0:
        return count_a, float(mean_a), float(m2_a)
    if count_a == 0:
        return count_b, float(mean_b), float(m2_b)
    count = count_a + count_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / count)
    m2 = m2_a + m2_b + delta * delta * (count_a * count_b / count)
    return count, mean, m2


def moments_of(values: Iterable[float]) -> tuple[int, float, float]:
    """Exact-as-possible ``(count, mean, m2)`` of a collection: two passes with ``math.fsum``.

    >>> moments_of([1e9 + 1, 1e9 + 2, 1e9 + 3])
    (3, 1000000002.0, 2.0)
    >>> moments_of([])
    (0, 0.0, 0.0)
    """
    data = values if isinstance(values, (list, tuple)) else list(values)
    count = len(data)
    if count == 0:
        return 0, 0.0, 0.0
    mean = math.fsum(data) / count
    deviations = [x - mean for x in data]
    # Correct the mean by the (tiny) residual of the rounded mean, then sum squares exactly.
    residual = math.fsum(deviations) / count
    mean += residual
    m2 = math.fsum([(d - residual) * (d - residual) for d in deviations])
    return count, mean, m2


class Moments:
    """Welford running moments of a stream of values (add only).

    For a guaranteed precision over many values use :func:`moments_of` on the values themselves.
    """

    __slots__ = ("count", "mean", "m2")

    def __init__(self, count: int = 0, mean: float = 0.0, m2: float = 0.0) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self.count = count
        self.mean = float(mean)
        self.m2 = float(m2)

    def add(self, x: float) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def merge(self, other: Moments) -> Moments:
        """A new :class:`Moments` for the union of two disjoint sets (:func:`merge`)."""
        return Moments(*merge(self.count, self.mean, self.m2, other.count, other.mean, other.m2))

    @property
    def variance(self) -> float:
        """Sample variance (``count - 1`` denominator); ``0.0`` below two values."""
        return sample_variance(self.count, self.m2)

    @property
    def std(self) -> float:
        """Sample standard deviation; ``0.0`` below two values."""
        return sample_std(self.count, self.m2)

    def __repr__(self) -> str:
        return f"Moments(count={self.count}, mean={self.mean!r}, m2={self.m2!r})"
