"""The cusum method's per-key state: the compiled kernel if it is built, else pure Python.

:class:`CusumState` holds one key's four statistics and the coefficients of their recursions
(:mod:`detection.core.cusum` derives them). The detector calls ``step(x)`` once per evaluated
event (``step_capped(x)`` while the key is DRIFTING) and reads a bool: whether any statistic is
above its threshold.

Two implementations, bit for bit equal (the tests compare both with
:class:`~detection.core.cusum.CusumReference`):

- ``detection.core._kernel`` (``_kernel.c``), built by ``make native`` (part of ``make setup``):
  the statistics are plain doubles inside the object, so an event creates no Python object.
  In pure Python every statistic is a float object of its own, scattered over the heap; with
  10k keys, reading those objects back cost more than the arithmetic, and the cusum method was
  ~10 % slower than the z-score's handful of operations (see README.md, "The compiled kernel").
- :class:`PyCusumState` below, used when the extension is not built (a machine without a C
  compiler): the same results, slower. ``NATIVE`` tells which one is in use; the detector logs
  it at start-up and the system check ``driftsite.W001`` warns when it is the fallback.
"""

from __future__ import annotations

from detection.core.cusum import CAP_FACTOR

__all__ = ["NATIVE", "NOT_NATIVE_REASON", "VERSION", "CusumState", "PyCusumState"]

# The interface version this module expects of _kernel.c (its KERNEL_VERSION): a library built
# from another version (an update not followed by `make native`) is not used.
VERSION = 1


def _real(value) -> float:
    """``float(value)`` for numbers only, as the C API's ``PyFloat_AsDouble``: no text parsing."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"must be real number, not {type(value).__name__}")
    return float(value)


class PyCusumState:
    """Pure-Python twin of ``detection.core._kernel.CusumState`` (same interface, same results)."""

    __slots__ = ("mean", "inv", "ma", "mb", "ua", "ub", "da", "db", "h", "cap", "s1", "s2", "s3", "s4")

    def __init__(self) -> None:
        self.mean = self.inv = 0.0
        self.ma = self.mb = self.ua = self.ub = self.da = self.db = 0.0
        self.h = self.cap = (0.0, 0.0, 0.0, 0.0)
        self.s1 = self.s2 = self.s3 = self.s4 = 0.0

    def configure(self, coefficients, mean: float, inv: float) -> None:
        """The 10 coefficients ``(mean_a, mean_b, up_a, up_b, down_a, down_b, h1, h2, h3, h4)``,
        the baseline mean and 1/std. The statistics are kept."""
        c = tuple(_real(v) for v in coefficients)
        if len(c) != 10:
            raise ValueError(f"configure() coefficients: expected 10 numbers, got {len(c)}")
        self.ma, self.mb, self.ua, self.ub, self.da, self.db = c[:6]
        self.h = c[6:]
        self.cap = tuple(h * CAP_FACTOR for h in self.h)
        self.mean = _real(mean)
        self.inv = _real(inv)

    def _step(self, x: float, capped: bool) -> bool:
        # The order of operations of _kernel.c, so both round alike; "not s >= 0.0" also clamps NaN.
        u = (x - self.mean) * self.inv
        a = self.ma * u
        s1 = self.s1 + a - self.mb
        s2 = self.s2 - a - self.mb
        uu = u * u
        s3 = self.s3 + self.ua * uu - self.ub
        s4 = self.s4 + self.da * uu - self.db
        if not s1 >= 0.0:
            s1 = 0.0
        if not s2 >= 0.0:
            s2 = 0.0
        if not s3 >= 0.0:
            s3 = 0.0
        if not s4 >= 0.0:
            s4 = 0.0
        h1, h2, h3, h4 = self.h
        hit = s1 > h1 or s2 > h2 or s3 > h3 or s4 > h4
        if capped and hit:
            c1, c2, c3, c4 = self.cap
            s1 = min(s1, c1)
            s2 = min(s2, c2)
            s3 = min(s3, c3)
            s4 = min(s4, c4)
        self.s1, self.s2, self.s3, self.s4 = s1, s2, s3, s4
        return hit

    def step(self, x: float) -> bool:
        """One event's value: update the statistics; whether any is above its threshold."""
        return self._step(x, False)

    def step_capped(self, x: float) -> bool:
        """As :meth:`step`, then cap the statistics at ``CAP_FACTOR`` x threshold (DRIFTING)."""
        return self._step(x, True)

    def reset(self) -> None:
        """Every statistic to 0 (DRIFT_END)."""
        self.s1 = self.s2 = self.s3 = self.s4 = 0.0

    @property
    def statistics(self) -> tuple[float, float, float, float]:
        """``(mean_up, mean_down, std_up, std_down)``; settable (a snapshot's restore)."""
        return (self.s1, self.s2, self.s3, self.s4)

    @statistics.setter
    def statistics(self, values) -> None:
        v = tuple(_real(s) for s in values)
        if len(v) != 4:
            raise ValueError(f"statistics: expected 4 numbers, got {len(v)}")
        self.s1, self.s2, self.s3, self.s4 = v

    @property
    def thresholds(self) -> tuple[float, float, float, float]:
        return self.h


def _compiled() -> tuple[type | None, str]:
    try:
        from detection.core import _kernel  # type: ignore[attr-defined]
    except ImportError as error:  # not built (no C compiler): the same results in pure Python
        return None, f"not built ({error})"
    built = getattr(_kernel, "VERSION", None)
    if built != VERSION:
        return None, f"built from another version of _kernel.c ({built}, expected {VERSION}): run `make native`"
    return _kernel.CusumState, ""


_native, NOT_NATIVE_REASON = _compiled()
NATIVE = _native is not None
CusumState = _native if _native is not None else PyCusumState
