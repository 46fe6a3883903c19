"""The producer loop behind ``manage.py run_producer`` (no Django: the command builds a
:class:`ProducerPlan` from its options and settings, and hands in the Kafka objects).

Time: the loop advances in *ticks*. Tick ``i`` has the event time
``start_ms + round(i * 1000 / rate_per_key)`` and produces one event for every key, in key order
(so ``--rate`` is per key; the total is ``rate * keys``). With the wall clock the loop waits
until tick ``i`` is due (``i / rate`` seconds after it started) and the event time is the tick's
scheduled time (it stays regular if the loop falls behind and catches up). With the simulated
clock (``simulated_clock``) it never waits: it runs as fast as it can from ``start_time_ms``
(default: so that the last tick's event time is now -- a back-fill that never runs into the
future).

A drift producer polls its :class:`~producers.kafka.ControlListener` between ticks (at most
every 50 ms, and while it waits for the next tick) and applies the commands to its
:class:`~producers.control.EffectBook`; the values come from :mod:`producers.signals`.
"""

from __future__ import annotations

import heapq
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from detection.core.events import encode_event, kafka_key, ms_to_iso
from producers.control import ControlCommand, EffectBook
from producers.injection import InjectionRates, Injector, malformed_payload
from producers.signals import SIGNAL_KINDS, make_signal

__all__ = ["ProducerPlan", "ProducerRun", "source_ids_for"]

CONTROL_POLL_SECONDS = 0.05


def source_ids_for(prefix: str, count: int) -> tuple[str, ...]:
    """``("drift-000", "drift-001", ...)`` for ``prefix="drift"``.

    >>> source_ids_for("stable", 2)
    ('stable-000', 'stable-001')
    """
    return tuple(f"{prefix}-{i:03d}" for i in range(count))


@dataclass(frozen=True)
class ProducerPlan:
    kind: str
    source_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    rate_per_key: float
    seed: int
    count: int | None = None
    duration_seconds: float | None = None
    simulated_clock: bool = False
    start_time_ms: int | None = None
    injection: InjectionRates = field(default_factory=InjectionRates)
    progress_interval_seconds: float = 5.0
    flush_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.kind not in SIGNAL_KINDS:
            raise ValueError(f"kind must be one of {SIGNAL_KINDS}, got {self.kind!r}")
        if not self.source_ids or not self.metrics:
            raise ValueError("need at least one source and one metric")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("source ids and metrics must be unique")
        if not (math.isfinite(self.rate_per_key) and self.rate_per_key > 0):
            raise ValueError(f"rate_per_key must be > 0, got {self.rate_per_key!r}")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        if self.duration_seconds is not None and not (math.isfinite(self.duration_seconds) and self.duration_seconds >= 0):
            raise ValueError("duration_seconds must be >= 0")
        if self.progress_interval_seconds <= 0:
            raise ValueError("progress_interval_seconds must be > 0")

    @property
    def keys(self) -> tuple[tuple[str, str], ...]:
        return tuple((s, m) for s in self.source_ids for m in self.metrics)

    def event_time_ms(self, start_ms: int, tick: int) -> int:
        return start_ms + round(tick * 1000.0 / self.rate_per_key)

    def last_tick(self) -> int | None:
        """Index of the last tick of a finite run (None if unbounded, -1 if empty).

        >>> ProducerPlan("stable", ("a", "b"), ("cpu",), 2.0, 0, count=5).last_tick()
        2
        >>> ProducerPlan("stable", ("a",), ("cpu",), 4.0, 0, duration_seconds=1.0).last_tick()
        3
        """
        if self.count is not None:
            return math.ceil(self.count / len(self.keys)) - 1
        if self.duration_seconds is not None:
            return math.ceil(self.duration_seconds * self.rate_per_key - 1e-9) - 1
        return None


class EventSink(Protocol):  # producers.kafka.KeyedProducer
    topic: str
    sent: int
    delivered: int
    failed: int

    def send(self, key: bytes, value: bytes) -> None: ...
    def poll(self, timeout: float = 0.0) -> None: ...
    def flush(self, timeout: float) -> int: ...


class CommandSource(Protocol):  # producers.kafka.ControlListener
    invalid: int

    def poll(self, timeout: float = 0.0) -> list[ControlCommand]: ...


class ProducerRun:
    """One run of a producer. ``run()`` returns a summary dict (also the command's stdout)."""

    def __init__(
        self,
        plan: ProducerPlan,
        *,
        sink: EventSink,
        control: CommandSource | None = None,
        stop: threading.Event | None = None,
        say: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.plan = plan
        self.sink = sink
        self.control = control
        self.stop = stop or threading.Event()
        self._print = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._monotonic = monotonic
        self._wall_ms = wall_ms
        self.book = EffectBook(plan.keys) if control is not None else None
        self.events = 0
        self.counts: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._held: list[tuple[int, int, bytes, bytes]] = []
        self._held_seq = 0
        self._last_control = -math.inf
        self._progress_at = 0.0
        self._progress_sent = 0

    # --- control -----------------------------------------------------------------------------
    def _poll_control(self, timeout: float) -> None:
        if self.control is None:
            return
        self._last_control = self._monotonic()
        for command in self.control.poll(timeout):
            if self.book.apply(command):
                self.counts["commands_applied"] += 1
                self._say(
                    f"control: {command.command} run={command.run_id} {command.source_id}/{command.metric} "
                    f"{command.kind} {command.magnitude:g} (active effects: {self.book.active_count})"
                )
            else:
                self.counts["commands_ignored"] += 1

    # --- output ------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self._print(f"run_producer[{self.plan.kind}] {text}")

    def _maybe_progress(self, force: bool = False) -> None:
        now = self._monotonic()
        elapsed = now - self._progress_at
        if not force and elapsed < self.plan.progress_interval_seconds:
            return
        sink = self.sink
        rate = (sink.sent - self._progress_sent) / elapsed if elapsed > 0 else 0.0
        self._progress_at, self._progress_sent = now, sink.sent
        effects = f" effects={self.book.active_count}" if self.book is not None else ""
        self._say(
            f"events={self.events} sent={sink.sent} delivered={sink.delivered} "
            f"delivery_errors={sink.failed} rate={rate:.0f} msg/s held={len(self._held)}{effects}"
        )

    # --- sending -----------------------------------------------------------------------------
    def _release_held(self, until_ms: float) -> None:
        held = self._held
        while held and held[0][0] <= until_ms:
            _, _, key, payload = heapq.heappop(held)
            self.sink.send(key, payload)

    def _emit(self, injector: Injector, source_id: str, metric: str, key: bytes, value: float, t_ms: int) -> None:
        payload = encode_event(source_id, metric, value, t_ms)
        decision = injector.decide()
        if decision.hold_ms:
            self._held_seq += 1
            heapq.heappush(self._held, (t_ms + decision.hold_ms, self._held_seq, key, payload))
            self.counts[decision.held_as] += 1
        else:
            self.sink.send(key, payload)
            if decision.duplicate:
                self.sink.send(key, payload)
                self.counts["duplicates"] += 1
        if decision.malformed is not None:
            self.sink.send(key, malformed_payload(decision.malformed, source_id, metric, value, t_ms))
            self.malformed[decision.malformed] += 1

    def _wait_until(self, due: float) -> None:
        while not self.stop.is_set():
            remaining = due - self._monotonic()
            if remaining <= 0:
                return
            timeout = min(remaining, 0.2)
            if self.control is not None:
                self._poll_control(timeout)
            else:
                self.stop.wait(timeout)
            self.sink.poll(0)
            self._maybe_progress()

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        plan = self.plan
        signal = make_signal(plan.kind, plan.seed)
        injector = Injector(plan.injection, plan.seed)
        keys = [(s, m, kafka_key(s, m)) for s, m in plan.keys]
        book = self.book
        if plan.start_time_ms is not None:
            start_ms = plan.start_time_ms
        elif plan.simulated_clock and plan.last_tick() is not None:
            # A simulated run without a start time ends now, so no event time is in the future
            # (a detector refuses events too far ahead of its wall clock).
            start_ms = self._wall_ms() - (plan.event_time_ms(0, max(plan.last_tick(), 0)))
        else:
            start_ms = self._wall_ms()
        duration_ms = None if plan.duration_seconds is None else plan.duration_seconds * 1000.0
        tick_seconds = 1.0 / plan.rate_per_key
        started = self._progress_at = self._monotonic()
        first_ms = last_ms = None
        tick = 0
        interrupted = False
        self._say(
            f"producing {len(keys)} keys ({len(plan.source_ids)} sources x {len(plan.metrics)} metrics) to "
            f"{self.sink.topic} at {plan.rate_per_key:g} events/s per key, "
            f"{'simulated clock' if plan.simulated_clock else 'wall clock'} from {ms_to_iso(start_ms)}"
        )
        while True:
            if self.stop.is_set():
                interrupted = True
                break
            if plan.count is not None and self.events >= plan.count:
                break
            if duration_ms is not None and tick * 1000.0 * tick_seconds >= duration_ms:
                break
            t_ms = plan.event_time_ms(start_ms, tick)
            if not plan.simulated_clock:
                self._wait_until(started + tick * tick_seconds)
                if self.stop.is_set():
                    interrupted = True
                    break
            if self.control is not None and self._monotonic() - self._last_control >= CONTROL_POLL_SECONDS:
                self._poll_control(0)
            if self._held:
                self._release_held(t_ms)
            for source_id, metric, key in keys:
                if plan.count is not None and self.events >= plan.count:
                    break
                effects = book.effects_for(source_id, metric) if book is not None else ()
                value = signal.value_at(source_id, metric, t_ms, effects)
                self._emit(injector, source_id, metric, key, value, t_ms)
                self.events += 1
            if first_ms is None:
                first_ms = t_ms
            last_ms = t_ms
            tick += 1
            self.sink.poll(0)
            self._maybe_progress()
        self._release_held(math.inf)
        undelivered = self.sink.flush(plan.flush_timeout_seconds)
        self._maybe_progress(force=True)
        elapsed = self._monotonic() - started
        summary = {
            "kind": plan.kind,
            "topic": self.sink.topic,
            "keys": len(keys),
            "events": self.events,
            "messages": self.sink.sent,
            "delivered": self.sink.delivered,
            "delivery_errors": self.sink.failed,
            "undelivered": undelivered,
            "duplicates": self.counts["duplicates"],
            "out_of_order": self.counts["out_of_order"],
            "late": self.counts["late"],
            "malformed": dict(sorted(self.malformed.items())),
            "malformed_total": sum(self.malformed.values()),
            "commands_applied": self.counts["commands_applied"],
            "commands_ignored": self.counts["commands_ignored"],
            "commands_invalid": getattr(self.control, "invalid", 0),
            "first_event_time": ms_to_iso(first_ms) if first_ms is not None else None,
            "last_event_time": ms_to_iso(last_ms) if last_ms is not None else None,
            "interrupted": interrupted,
            "elapsed_seconds": round(elapsed, 3),
            "events_per_second": round(self.events / elapsed, 1) if elapsed > 0 else None,
        }
        return summary
