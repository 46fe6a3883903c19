"""PURE seeded value generators for the simulated producers. Time is passed in; nothing here
reads a clock, a random global, Kafka, a database or Django.

Every value is a function of ``(seed, source_id, metric, t_ms)`` (plus the drift effects the
caller says are active), so the same seed gives the same value for the same key and event time
whatever order, rate or process the values are produced in:

- **noise** ``z``: a standard normal drawn from a BLAKE2b hash of ``(seed, key, t_ms)``
  (Box-Muller), independent between keys and between milliseconds;
- **profile** of a key: ``mean`` (log-uniform in [10, 1000]) and ``std`` (2-10 % of the mean),
  derived from ``(seed, key)``, plus the phases the dynamic signal uses.

Kinds (what ``manage.py run_producer --kind`` selects):

- ``stable`` -- ``mean + std * z``: stationary mean and variance per key.
- ``dynamic`` -- ``mean + std * (movement(t) + z)`` where ``movement`` is a sum of two slow sines
  (0.35 sigma over 10 min, 0.25 sigma over 37 min, per-key phases): bounded by 0.6 sigma, never
  repeating within an hour. Why these numbers: a detector baseline of a dynamic key includes its
  own movement (its std is ~1.05 sigma), and the demo thresholds (30 s window, z > 2.0 on
  ``|rolling mean - baseline mean| / baseline std``, std ratio 2.5, 3 hits) see a 30 s rolling
  mean that moves at most 0.6 sigma plus ~0.1 sigma of sampling noise at 5 events/s: measured
  z <= ~0.75 against a one-hour baseline, <= ~1.25 against a baseline learnt in the first two
  minutes (at one extreme of the movement) -- well under 2.0. The periods are 20-74x the
  window, so within one window the movement is almost flat and the rolling std stays ~1 sigma
  (measured ratios within [0.8, 1.26], far inside [1/2.5, 2.5]). The movement is real
  nonetheless: the 60 s means of one key range over ~1.1 sigma within an hour.
- ``drift`` -- the ``stable`` signal plus :class:`Effect` s that the drift controller switches
  on and off: a ``mean_shift`` of ``k`` adds ``k * std``; a ``variance`` effect of factor ``r``
  multiplies the noise term by ``r``. Note that ``r`` scales the *spread* (standard deviation):
  the detector's ``rolling std / baseline std`` then reads ``r``, which is what its
  ``std_ratio`` threshold compares. Effects compose: shifts add, factors multiply.

>>> s = StableSignal(seed=7)
>>> s.value_at("drift-000", "cpu", 1_700_000_000_000) == s.value_at("drift-000", "cpu", 1_700_000_000_000)
True
>>> p = s.profile("drift-000", "cpu")
>>> shifted = s.value_at("drift-000", "cpu", 1_700_000_000_000, (Effect(MEAN_SHIFT, 4.0),))
>>> round((shifted - s.value_at("drift-000", "cpu", 1_700_000_000_000)) / p.std, 9)
4.0
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "EFFECT_KINDS",
    "MEAN_SHIFT",
    "SIGNAL_KINDS",
    "VARIANCE",
    "DynamicSignal",
    "Effect",
    "KeyProfile",
    "StableSignal",
    "combine_effects",
    "make_signal",
]

SIGNAL_KINDS = ("stable", "dynamic", "drift")
MEAN_SHIFT = "mean_shift"
VARIANCE = "variance"
EFFECT_KINDS = (MEAN_SHIFT, VARIANCE)

_TWO_PI = 2.0 * math.pi
_U64 = float(1 << 64)


def _unit_pair(digest: bytes) -> tuple[float, float]:
    """Two uniforms in (0, 1] from 16 hash bytes (never 0, so log() is safe)."""
    a = int.from_bytes(digest[:8], "little")
    b = int.from_bytes(digest[8:16], "little")
    return (a + 1.0) / _U64, (b + 1.0) / _U64


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Effect:
    """A drift effect on one key: ``mean_shift`` by ``magnitude`` sigmas, or ``variance``: the
    noise spread multiplied by ``magnitude``. ``magnitude`` must be finite and > 0; a variance
    factor of exactly 1 changes nothing and is refused.

    >>> Effect("variance", 1.0)
    Traceback (most recent call last):
    ...
    ValueError: a variance factor of 1 changes nothing
    """

    kind: str
    magnitude: float

    def __post_init__(self) -> None:
        if self.kind not in EFFECT_KINDS:
            raise ValueError(f"effect kind must be one of {EFFECT_KINDS}, got {self.kind!r}")
        if not _is_real(self.magnitude) or self.magnitude <= 0:
            raise ValueError(f"effect magnitude must be a finite number > 0, got {self.magnitude!r}")
        if self.kind == VARIANCE and self.magnitude == 1:
            raise ValueError("a variance factor of 1 changes nothing")


def combine_effects(effects: Iterable[Effect]) -> tuple[float, float]:
    """``(shift_sigmas, spread_factor)`` of several active effects: shifts add, factors multiply.

    >>> combine_effects([Effect("mean_shift", 2.0), Effect("variance", 3.0), Effect("mean_shift", 1.0)])
    (3.0, 3.0)
    """
    shift = 0.0
    factor = 1.0
    for effect in effects:
        if effect.kind == MEAN_SHIFT:
            shift += effect.magnitude
        else:
            factor *= effect.magnitude
    return shift, factor


@dataclass(frozen=True, slots=True)
class KeyProfile:
    """What a seed makes of one key: its long-term ``mean`` and noise ``std``, and two phases
    (radians) used by the dynamic signal."""

    mean: float
    std: float
    phase_1: float
    phase_2: float


class StableSignal:
    """Stationary values: ``mean + std * z`` per key (see the module docstring).

    ``seed`` (an int) is public configuration; the per-key profiles are cached privately.
    """

    kind = "stable"

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self._profiles: dict[tuple[str, str], KeyProfile] = {}
        self._prefixes: dict[tuple[str, str], bytes] = {}

    # --- per key -------------------------------------------------------------------------
    def profile(self, source_id: str, metric: str) -> KeyProfile:
        key = (source_id, metric)
        found = self._profiles.get(key)
        if found is None:
            digest = hashlib.blake2b(
                f"profile\x1f{self.seed}\x1f{source_id}\x1f{metric}".encode(), digest_size=32
            ).digest()
            u1, u2 = _unit_pair(digest[:16])
            u3, u4 = _unit_pair(digest[16:])
            mean = 10.0 ** (1.0 + 2.0 * u1)  # 10 .. 1000, log-uniform
            std = mean * (0.02 + 0.08 * u2)  # 2 % .. 10 % of the mean
            found = KeyProfile(mean=mean, std=std, phase_1=_TWO_PI * u3, phase_2=_TWO_PI * u4)
            self._profiles[key] = found
        return found

    def noise(self, source_id: str, metric: str, t_ms: int) -> float:
        """The standard-normal noise of a key at an event time (Box-Muller on a hash)."""
        key = (source_id, metric)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = f"noise\x1f{self.seed}\x1f{source_id}\x1f{metric}\x1f".encode()
            self._prefixes[key] = prefix
        u1, u2 = _unit_pair(hashlib.blake2b(prefix + str(int(t_ms)).encode(), digest_size=16).digest())
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)

    def movement(self, source_id: str, metric: str, t_ms: int) -> float:
        """Slow deterministic movement of the mean, in sigmas of the key (0 for a stable key)."""
        return 0.0

    # --- the value -------------------------------------------------------------------------
    def value_at(self, source_id: str, metric: str, t_ms: int, effects: Iterable[Effect] = ()) -> float:
        """The value of ``(source_id, metric)`` at event time ``t_ms`` with ``effects`` active."""
        profile = self.profile(source_id, metric)
        shift, factor = combine_effects(effects)
        z = self.noise(source_id, metric, t_ms)
        return profile.mean + profile.std * (self.movement(source_id, metric, t_ms) + shift + factor * z)


class DynamicSignal(StableSignal):
    """A slowly moving but bounded mean: ``mean + std * (movement(t) + z)`` with
    ``movement(t) = sum(a_i * sin(2 pi t / P_i + phase_i))``.

    ``components`` are ``(amplitude_sigmas, period_seconds)`` pairs (default 0.35 sigma / 600 s
    and 0.25 sigma / 2220 s, see the module docstring for why); ``amplitude`` is their sum,
    the bound of ``|movement|``.

    >>> sig = DynamicSignal(seed=1)
    >>> sig.amplitude
    0.6
    >>> abs(sig.movement("dyn-000", "cpu", 123_456_789)) <= sig.amplitude
    True
    """

    kind = "dynamic"
    DEFAULT_COMPONENTS = ((0.35, 600.0), (0.25, 2220.0))

    def __init__(self, seed: int, components: tuple[tuple[float, float], ...] = DEFAULT_COMPONENTS) -> None:
        super().__init__(seed)
        if len(components) != 2:
            raise ValueError("components must be two (amplitude_sigmas, period_seconds) pairs")
        for amplitude, period in components:
            if not (_is_real(amplitude) and amplitude >= 0 and _is_real(period) and period > 0):
                raise ValueError(f"bad component {(amplitude, period)!r}: need amplitude >= 0 and period > 0")
        self.components = tuple((float(a), float(p)) for a, p in components)
        self.amplitude = round(sum(a for a, _ in self.components), 12)
        (self._a1, p1), (self._a2, p2) = self.components
        self._w1 = _TWO_PI / (p1 * 1000.0)
        self._w2 = _TWO_PI / (p2 * 1000.0)

    def movement(self, source_id: str, metric: str, t_ms: int) -> float:
        profile = self.profile(source_id, metric)
        return self._a1 * math.sin(self._w1 * t_ms + profile.phase_1) + self._a2 * math.sin(
            self._w2 * t_ms + profile.phase_2
        )


def make_signal(kind: str, seed: int) -> StableSignal:
    """The generator for a producer kind: ``drift`` is the stable signal (effects are passed to
    :meth:`StableSignal.value_at` by the caller).

    >>> type(make_signal("drift", 3)).__name__
    'StableSignal'
    """
    if kind in ("stable", "drift"):
        return StableSignal(seed)
    if kind == "dynamic":
        return DynamicSignal(seed)
    raise ValueError(f"kind must be one of {SIGNAL_KINDS}, got {kind!r}")
