"""The drift-control contract, PURE (no Kafka, database or Django): control messages, the
schedule of a scenario, and the book of effects a drift producer keeps.

A control message on ``settings.KAFKA_CONTROL_TOPIC`` (Kafka key = ``kafka_key(source_id,
metric)``, so the commands of one target stay in order on one partition) is one JSON object::

    {"command": "start", "run_id": 12, "target": {"source_id": "drift-000", "metric": "cpu"},
     "kind": "mean_shift", "magnitude": 4.0, "issued_at": "2024-01-01T00:00:30.000Z"}

- ``command``: ``start`` | ``stop``; ``run_id``: the ``ScenarioRun`` id (int >= 0);
- ``kind``: ``mean_shift`` (``magnitude`` = k sigmas) | ``variance`` (``magnitude`` = factor r
  on the noise spread, != 1); ``magnitude`` finite and > 0;
- ``issued_at``: ISO-8601 with an offset (the controller writes UTC, ms precision).

An effect is identified by ``(run_id, source_id, metric, kind)``: ``stop`` removes what the
matching ``start`` added, whatever its magnitude.

>>> cmd = ControlCommand("start", 12, "drift-000", "cpu", "mean_shift", 4.0, 1704067230000)
>>> encode_command(cmd)
b'{"command":"start","run_id":12,"target":{"source_id":"drift-000","metric":"cpu"},"kind":"mean_shift","magnitude":4.0,"issued_at":"2024-01-01T00:00:30.000Z"}'
>>> decode_command(encode_command(cmd)) == cmd
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from config_app.scenario_rules import overlap_error
from detection.core.events import InvalidEvent, iso_to_ms, ms_to_iso
from producers.signals import Effect

__all__ = [
    "COMMANDS",
    "START",
    "STOP",
    "ControlCommand",
    "EffectBook",
    "InvalidCommand",
    "PlannedAction",
    "StepSpec",
    "decode_command",
    "encode_command",
    "plan_schedule",
    "step_window",
]

START = "start"
STOP = "stop"
COMMANDS = (START, STOP)


class InvalidCommand(ValueError):
    """A control message that does not follow the contract (the producer logs and skips it)."""


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class ControlCommand:
    command: str
    run_id: int
    source_id: str
    metric: str
    kind: str
    magnitude: float
    issued_at_ms: int

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise InvalidCommand(f"command must be one of {COMMANDS}, got {self.command!r}")
        if not isinstance(self.run_id, int) or isinstance(self.run_id, bool) or self.run_id < 0:
            raise InvalidCommand(f"run_id must be an int >= 0, got {self.run_id!r}")
        for name in ("source_id", "metric"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or value.isspace():
                raise InvalidCommand(f"target.{name} must be a non-empty string, got {value!r}")
        try:
            Effect(self.kind, self.magnitude)
        except ValueError as exc:
            raise InvalidCommand(str(exc)) from None
        if not isinstance(self.issued_at_ms, int) or isinstance(self.issued_at_ms, bool):
            raise InvalidCommand(f"issued_at_ms must be an int, got {self.issued_at_ms!r}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_id, self.metric)

    @property
    def effect(self) -> Effect:
        return Effect(self.kind, float(self.magnitude))


def encode_command(command: ControlCommand) -> bytes:
    return orjson.dumps(
        {
            "command": command.command,
            "run_id": command.run_id,
            "target": {"source_id": command.source_id, "metric": command.metric},
            "kind": command.kind,
            "magnitude": float(command.magnitude),
            "issued_at": ms_to_iso(command.issued_at_ms),
        }
    )


def decode_command(raw: bytes | str) -> ControlCommand:
    """Parse a control message; raise :class:`InvalidCommand` with the reason otherwise.

    >>> decode_command(b'{"command":"pause"}')
    Traceback (most recent call last):
    ...
    producers.control.InvalidCommand: missing fields: issued_at, kind, magnitude, run_id, target
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidCommand("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidCommand(f"a control message is a JSON object, got {type(data).__name__}")
    missing = sorted({"command", "run_id", "target", "kind", "magnitude", "issued_at"} - set(data))
    if missing:
        raise InvalidCommand(f"missing fields: {', '.join(missing)}")
    target = data["target"]
    if not isinstance(target, dict) or "source_id" not in target or "metric" not in target:
        raise InvalidCommand("target must be an object with source_id and metric")
    issued_at = data["issued_at"]
    try:
        issued_at_ms = iso_to_ms(issued_at)
    except InvalidEvent as exc:
        raise InvalidCommand(f"issued_at: {exc.message}") from None
    magnitude = data["magnitude"]
    if not _is_real(magnitude):
        raise InvalidCommand(f"magnitude must be a finite number, got {magnitude!r}")
    return ControlCommand(
        command=data["command"],
        run_id=data["run_id"],
        source_id=target["source_id"],
        metric=target["metric"],
        kind=data["kind"],
        magnitude=float(magnitude),
        issued_at_ms=issued_at_ms,
    )


# --- scenario schedule --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a scenario, as plain values (a ``ScenarioStep`` row)."""

    source_id: str
    metric: str
    kind: str
    magnitude: float
    start_offset_seconds: float
    duration_seconds: float

    def __post_init__(self) -> None:
        for name in ("source_id", "metric"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or value.isspace():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        Effect(self.kind, self.magnitude)  # kind, magnitude > 0, variance factor != 1
        if not _is_real(self.start_offset_seconds) or self.start_offset_seconds < 0:
            raise ValueError(f"start_offset_seconds must be a finite number >= 0, got {self.start_offset_seconds!r}")
        if not _is_real(self.duration_seconds) or self.duration_seconds <= 0:
            raise ValueError(f"duration_seconds must be a finite number > 0, got {self.duration_seconds!r}")


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """Publish ``command`` for step ``step_index`` at ``at_seconds`` after the run starts."""

    at_seconds: float
    command: str
    step_index: int
    step: StepSpec


def step_window(step: StepSpec, time_scale: float) -> tuple[float, float]:
    """``(start, end)`` seconds after the run start, offsets and durations times ``time_scale``."""
    start = step.start_offset_seconds * time_scale
    return start, start + step.duration_seconds * time_scale


def plan_schedule(steps: Sequence[StepSpec], time_scale: float = 1.0) -> list[PlannedAction]:
    """The start/stop actions of a scenario in the order they are published.

    Offsets and durations are multiplied by ``time_scale`` (> 0; < 1 shrinks a scenario for
    tests). Actions are ordered by time; at equal times a ``stop`` goes before a ``start`` (so a
    step ending when another begins never overlaps it), then by step order. Two steps with the
    same target and kind must not overlap (a ``stop`` could not tell them apart).

    >>> a = StepSpec("s", "cpu", "mean_shift", 4.0, 30, 60)
    >>> b = StepSpec("t", "cpu", "variance", 4.0, 45, 15)
    >>> [(p.at_seconds, p.command, p.step_index) for p in plan_schedule([a, b], time_scale=0.1)]
    [(3.0, 'start', 0), (4.5, 'start', 1), (6.0, 'stop', 1), (9.0, 'stop', 0)]
    """
    if not _is_real(time_scale) or time_scale <= 0:
        raise ValueError(f"time_scale must be a finite number > 0, got {time_scale!r}")
    windows = []
    actions: list[tuple[float, int, int, PlannedAction]] = []
    for index, step in enumerate(steps):
        start, end = step_window(step, time_scale)
        windows.append((step.source_id, step.metric, step.kind, start, end))
        actions.append((start, 1, index, PlannedAction(start, START, index, step)))
        actions.append((end, 0, index, PlannedAction(end, STOP, index, step)))
    error = overlap_error(windows)
    if error:
        raise ValueError(error)
    actions.sort(key=lambda item: item[:3])
    return [item[3] for item in actions]


# --- the drift producer's view -------------------------------------------------------------
class EffectBook:
    """The effects currently active on the keys one producer produces.

    ``apply`` returns True when the command changed something for one of ``keys``; commands for
    other keys, a ``stop`` without its ``start`` and a repeated ``start`` (a redelivery) return
    False.

    >>> book = EffectBook([("drift-000", "cpu")])
    >>> book.apply(ControlCommand("start", 1, "drift-000", "cpu", "variance", 4.0, 0))
    True
    >>> book.effects_for("drift-000", "cpu")
    (Effect(kind='variance', magnitude=4.0),)
    >>> book.apply(ControlCommand("stop", 1, "drift-000", "cpu", "variance", 4.0, 0)), book.effects_for("drift-000", "cpu")
    (True, ())
    """

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        self.keys = frozenset(keys)
        self._active: dict[tuple[str, str], dict[tuple[int, str], Effect]] = {}
        self._effects: dict[tuple[str, str], tuple[Effect, ...]] = {}

    def apply(self, command: ControlCommand) -> bool:
        key = command.key
        if key not in self.keys:
            return False
        active = self._active.setdefault(key, {})
        ident = (command.run_id, command.kind)
        if command.command == START:
            effect = command.effect
            if active.get(ident) == effect:
                return False
            active[ident] = effect
        else:
            if active.pop(ident, None) is None:
                return False
        self._effects[key] = tuple(active[i] for i in sorted(active))
        return True

    def effects_for(self, source_id: str, metric: str) -> tuple[Effect, ...]:
        return self._effects.get((source_id, metric), ())

    @property
    def active_count(self) -> int:
        return sum(len(v) for v in self._active.values())

