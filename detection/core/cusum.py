"""The ``cusum`` method: four one-sided likelihood-ratio CUSUMs on u = (x - mean_b) / std_b.

Per key, on every evaluation (same gating as the z-score method: the window holds
``min_samples`` and a baseline exists), with ``u`` the event's value standardised by the
(resolved) baseline:

- mean up    ``S1 = max(0, S1 + (d*u - d^2/2) / v)``   (H0: N(0,1) vs H1: N(+d,1))
- mean down  ``S2 = max(0, S2 + (-d*u - d^2/2) / v)``  (H1: N(-d,1))
- std up     ``S3 = max(0, S3 + u^2 (1 - 1/k_up^2)/2 - ln k_up)`` / ``w``   (H1: N(0, k_up^2))
- std down   ``S4 = max(0, S4 + u^2 (1 - 1/k_down^2)/2 - ln k_down)`` / ``w``

``d`` = ``mean_shift_sigma``, ``k_up`` = ``std_up_ratio``, ``k_down`` = ``std_down_ratio``;
``v = (1 + rho) / (1 - rho)`` and ``w = (1 + rho^2) / (1 - rho^2)`` are the variance-inflation
factors of sums of an AR(1) sequence (and of its squares) with lag-1 autocorrelation ``rho``
(the baseline's, see :func:`effective_autocorrelation`). A violation is any ``S_i > h_i``.

Decision thresholds ``h_i`` come from one knob, the target false-alarm rate ``r`` (alarms per
evaluation of a key whose data match the baseline, ``target_false_alarms_per_100k / 1e5``),
split over the four statistics by :data:`RATE_SHARES`. For an LLR CUSUM the in-control run
length grows like ``e^h``: alarm rate ~ ``C * e^(-h)`` with a constant ``C`` < 1 (Lorden's
bound is ARL0 >= e^h, i.e. C <= 1), so ``h_i = ln(C_i / (share_i * r))``:

- the mean statistics use Siegmund's approximation for a Gaussian CUSUM (valid for any ``d``
  and ``v``): ARL0 = (exp(2kb) - 2kb - 1) / (2k^2) with k = d'/2, b = h/d' + 1.166,
  d' = d / sqrt(v); solved for ``h`` by bisection;
- the variance statistics use ``C`` measured by simulation (``python -m
  bench.quality --calibrate``; figures in README.md) at the default ratios
  (:data:`MEASURED_C`); for other ratios ``C = 1`` (Lorden's bound), which errs towards fewer
  alarms than targeted.

While a key is DRIFTING every statistic is capped at ``CAP_FACTOR * h_i`` (so it returns below
its threshold soon after the change ends) and all four are reset to 0 at DRIFT_END: one
excursion gives one alarm.

:class:`CusumReference` is a plain implementation of the recursion used only by tests (the
detector runs the same arithmetic in :mod:`detection.core.kernel`, compiled or in Python).

>>> p = cusum_params(target_false_alarms_per_100k=0.5, mean_shift_sigma=1.0, std_up_ratio=2.0,
...                  std_down_ratio=0.5, autocorrelation=0.0)
>>> [round(h, 2) for h in p.thresholds]
[11.55, 11.55, 11.9, 11.74]
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = [
    "CAP_FACTOR",
    "MEASURED_C",
    "RATE_SHARES",
    "STATISTIC_NAMES",
    "CusumParams",
    "CusumReference",
    "cusum_params",
    "effective_autocorrelation",
    "siegmund_arl0",
]

STATISTIC_NAMES = ("mean_up", "mean_down", "std_up", "std_down")

# Share of the target false-alarm rate given to each statistic. The slow detections are the
# small mean shift (+1 sigma, drift 0.5 per sample) and the shrink of the spread (KL 0.318 per
# sample at k_down = 0.5); growth of the spread is detected fastest (KL 0.807), so it gets less.
RATE_SHARES = (0.3, 0.3, 0.1, 0.3)

# Alarm rate x e^h of the iid variance CUSUMs at the default ratios, measured by simulation
# (20,000 chains x 20,000 steps at h = 5, 7, 9; constant within +-2 %).
MEASURED_C = {"std_up": (2.0, 0.0735), "std_down": (0.5, 0.188)}

CAP_FACTOR = 1.5
MAX_AUTOCORRELATION = 0.3


class CusumParams(NamedTuple):
    """Per-key coefficients of the four recursions (derived once per threshold/baseline change)."""

    mean_a: float  # d / v
    mean_b: float  # d^2 / (2 v)
    up_a: float  # (1 - 1/k_up^2) / 2 / w
    up_b: float  # ln(k_up) / w
    down_a: float  # (1 - 1/k_down^2) / 2 / w   (negative)
    down_b: float  # ln(k_down) / w             (negative)
    thresholds: tuple[float, float, float, float]  # h for mean_up, mean_down, std_up, std_down
    autocorrelation: float  # the rho actually used

    def without_shrink(self) -> CusumParams:
        """For a floored baseline std: the std_down recursion never moves (as for the z-score's
        shrink test, a spread cannot shrink below "no spread")."""
        return self._replace(down_a=0.0, down_b=0.0)

    @property
    def coefficients(self) -> tuple[float, ...]:
        """The ten numbers a :class:`~detection.core.kernel.CusumState` is configured with:
        ``(mean_a, mean_b, up_a, up_b, down_a, down_b, h1, h2, h3, h4)``."""
        return (self.mean_a, self.mean_b, self.up_a, self.up_b, self.down_a, self.down_b, *self.thresholds)


def effective_autocorrelation(rho: float | None, count: int | None = None) -> float:
    """The lag-1 autocorrelation the method corrects for.

    ``None`` or non-finite -> 0. A negative rho would make the statistics *more* sensitive than
    the iid derivation, so it is taken as 0. An estimate from ``count`` values has standard
    error ~ 1/sqrt(count): rho is shrunk by two standard errors, so iid data (whose estimate
    scatters around 0) are not slowed down by noise. Capped at 0.3: beyond it the AR(1) correction cost more detections on the NAB series than it saved false alarms (chosen there, see README.md).
    """
    if rho is None or not math.isfinite(rho):
        return 0.0
    if count is not None and count > 0:
        rho -= 2.0 / math.sqrt(count)
    return min(max(rho, 0.0), MAX_AUTOCORRELATION)


def siegmund_arl0(h: float, shift: float) -> float:
    """In-control average run length of the Gaussian LLR CUSUM for a mean shift ``shift``
    (in sigma) with decision threshold ``h`` (LLR units): Siegmund's approximation."""
    k = shift / 2.0
    b = h / shift + 1.166
    x = 2.0 * k * b
    return (math.exp(x) - x - 1.0) / (2.0 * k * k)


def _solve_mean_threshold(arl0: float, shift: float) -> float:
    lo, hi = 0.0, 1.0
    while siegmund_arl0(hi, shift) < arl0:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if siegmund_arl0(mid, shift) < arl0:
            lo = mid
        else:
            hi = mid
    return hi


def _variance_constant(name: str, ratio: float) -> float:
    default_ratio, constant = MEASURED_C[name]
    return constant if math.isclose(ratio, default_ratio, rel_tol=1e-9) else 1.0


def cusum_params(
    *,
    target_false_alarms_per_100k: float,
    mean_shift_sigma: float,
    std_up_ratio: float,
    std_down_ratio: float,
    autocorrelation: float,
) -> CusumParams:
    """Coefficients and decision thresholds (see the module docstring for the derivation)."""
    rate = target_false_alarms_per_100k / 100_000.0
    rho = autocorrelation
    v = (1.0 + rho) / (1.0 - rho)
    w = (1.0 + rho * rho) / (1.0 - rho * rho)
    d = mean_shift_sigma
    d_eff = d / math.sqrt(v)
    h_mean = [_solve_mean_threshold(1.0 / (share * rate), d_eff) for share in RATE_SHARES[:2]]
    h_up = math.log(_variance_constant("std_up", std_up_ratio) / (RATE_SHARES[2] * rate))
    h_down = math.log(_variance_constant("std_down", std_down_ratio) / (RATE_SHARES[3] * rate))
    return CusumParams(
        mean_a=d / v,
        mean_b=d * d / (2.0 * v),
        up_a=(1.0 - 1.0 / (std_up_ratio * std_up_ratio)) / 2.0 / w,
        up_b=math.log(std_up_ratio) / w,
        down_a=(1.0 - 1.0 / (std_down_ratio * std_down_ratio)) / 2.0 / w,
        down_b=math.log(std_down_ratio) / w,
        thresholds=(h_mean[0], h_mean[1], max(h_up, 0.0), max(h_down, 0.0)),
        autocorrelation=rho,
    )


class CusumReference:
    """The recursion written plainly, one statistic at a time: the reference, used only by
    tests (the detector runs the same arithmetic in :mod:`detection.core.kernel`).

    ``update(u, drifting)`` returns whether any statistic is above its threshold after the
    update; ``reset()`` is called at DRIFT_END.
    """

    def __init__(self, params: CusumParams) -> None:
        self.params = params
        self.stats = [0.0, 0.0, 0.0, 0.0]

    def update(self, u: float, drifting: bool) -> bool:
        p = self.params
        uu = u * u
        # (S + a) - b, in the order the detector evaluates it, so both round alike.
        steps = [(p.mean_a * u, p.mean_b), (-(p.mean_a * u), p.mean_b), (p.up_a * uu, p.up_b), (p.down_a * uu, p.down_b)]
        for i, (a, b) in enumerate(steps):
            s = max(0.0, self.stats[i] + a - b)
            if drifting:
                s = min(s, CAP_FACTOR * self.params.thresholds[i])
            self.stats[i] = s
        return any(s > h for s, h in zip(self.stats, self.params.thresholds))

    def reset(self) -> None:
        self.stats = [0.0, 0.0, 0.0, 0.0]
