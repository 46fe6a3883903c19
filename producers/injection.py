"""PURE fault injection for the producers: duplicates, out-of-order and late events, malformed
messages. Seeded (its own ``random.Random``), so the same seed injects the same faults.

Per generated event the :class:`Injector` decides at most one of:

- ``duplicate``: the same message (same bytes, key, event_id) is sent twice in a row;
- ``out_of_order``: the event is held back and sent once the producer's clock has moved
  ``0.5 .. out_of_order_max_seconds`` (default 3 s, under the demo's 5 s allowed lateness) past
  its event time, i.e. after newer events of its key;
- ``late``: held back ``late_min_seconds .. late_max_seconds`` (default 30-60 s, far beyond
  any sensible allowed lateness), so a detector sees it behind its watermark.

Independently, with ``malformed`` probability an EXTRA malformed message (same key) follows the
event; its class is drawn from :data:`MALFORMED_KINDS`. Held events still pending when a finite
run ends are sent before the final flush (so every generated event is delivered once; such a
tail event may be less late than planned).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import orjson

from detection.core.events import ms_to_iso

__all__ = ["MALFORMED_KINDS", "Decision", "InjectionRates", "Injector", "malformed_payload"]

MALFORMED_KINDS = ("not_json", "missing_field", "not_finite", "bad_event_time", "too_large")
TOO_LARGE_BYTES = 100_000


@dataclass(frozen=True, slots=True)
class InjectionRates:
    duplicate: float = 0.0
    out_of_order: float = 0.0
    late: float = 0.0
    malformed: float = 0.0
    out_of_order_max_seconds: float = 3.0
    late_min_seconds: float = 30.0
    late_max_seconds: float = 60.0

    def __post_init__(self) -> None:
        for name in ("duplicate", "out_of_order", "late", "malformed"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} rate must be within [0, 1], got {value!r}")
        if self.duplicate + self.out_of_order + self.late > 1.0:
            raise ValueError("duplicate + out_of_order + late rates must not exceed 1 (one fault per event)")
        if not 0.5 <= self.out_of_order_max_seconds:
            raise ValueError("out_of_order_max_seconds must be >= 0.5")
        if not 0 < self.late_min_seconds <= self.late_max_seconds:
            raise ValueError("need 0 < late_min_seconds <= late_max_seconds")

    @property
    def any(self) -> bool:
        return bool(self.duplicate or self.out_of_order or self.late or self.malformed)


@dataclass(frozen=True, slots=True)
class Decision:
    duplicate: bool = False
    hold_ms: int = 0  # > 0: send when the producer clock reaches event_time + hold_ms
    held_as: str | None = None  # "out_of_order" | "late"
    malformed: str | None = None  # a MALFORMED_KINDS entry: send one extra malformed message


NOTHING = Decision()


class Injector:
    """``decide()`` once per generated event, in generation order (deterministic per seed).

    >>> def first(seed):
    ...     inj = Injector(InjectionRates(duplicate=0.3, late=0.2), seed=seed)
    ...     return [inj.decide() for _ in range(50)]
    >>> first(1) == first(1), first(1) == first(2)
    (True, False)
    """

    def __init__(self, rates: InjectionRates, seed: int) -> None:
        self.rates = rates
        self._rng = random.Random(f"injection:{seed}")

    def decide(self) -> Decision:
        rates = self.rates
        if not rates.any:
            return NOTHING
        rng = self._rng
        u = rng.random()
        malformed = MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))] if rng.random() < rates.malformed else None
        if u < rates.duplicate:
            return Decision(duplicate=True, malformed=malformed)
        u -= rates.duplicate
        if u < rates.out_of_order:
            hold = rng.uniform(0.5, rates.out_of_order_max_seconds)
            return Decision(hold_ms=max(1, round(hold * 1000)), held_as="out_of_order", malformed=malformed)
        u -= rates.out_of_order
        if u < rates.late:
            hold = rng.uniform(rates.late_min_seconds, rates.late_max_seconds)
            return Decision(hold_ms=max(1, round(hold * 1000)), held_as="late", malformed=malformed)
        if malformed is None:
            return NOTHING
        return Decision(malformed=malformed)


def malformed_payload(kind: str, source_id: str, metric: str, value: float, event_time_ms: int) -> bytes:
    """A message that a consumer must reject, of one of :data:`MALFORMED_KINDS`.

    >>> malformed_payload("not_finite", "s", "cpu", 1.0, 0)
    b'{"source_id":"s","metric":"cpu","value":NaN,"event_time":"1970-01-01T00:00:00.000Z"}'
    >>> len(malformed_payload("too_large", "s", "cpu", 1.0, 0)) > 100_000
    True
    """
    event_time = ms_to_iso(event_time_ms)
    if kind == "not_json":
        return f'{{"source_id":"{source_id}","metric":"{metric}","value":{value!r},'.encode()
    if kind == "missing_field":
        return orjson.dumps({"source_id": source_id, "metric": metric, "event_time": event_time})
    if kind == "not_finite":
        head = orjson.dumps({"source_id": source_id, "metric": metric})[:-1]
        return head + b',"value":NaN,"event_time":"' + event_time.encode() + b'"}'
    if kind == "bad_event_time":
        return orjson.dumps({"source_id": source_id, "metric": metric, "value": value, "event_time": "yesterday"})
    if kind == "too_large":
        return orjson.dumps(
            {"source_id": source_id, "metric": metric, "value": value, "event_time": event_time,
             "padding": "x" * TOO_LARGE_BYTES}
        )
    raise ValueError(f"kind must be one of {MALFORMED_KINDS}, got {kind!r}")
