"""The drift controller: a scenario -> timed start/stop commands on the control topic, with the
ground truth (what was started and stopped, when) recorded in Postgres.

:func:`scenario_execute` is the whole run; ``manage.py drift_controller`` only builds its inputs.
Time comes from an injected :class:`Clock` (``monotonic`` to schedule, ``now`` for the recorded
times, ``wait`` to sleep until the next action or until a stop is requested), so tests drive a
run without sleeping. A command is recorded (``actual_start`` / ``actual_end``) only after
the broker acknowledged it: ``publish`` returns only then.

Run status: ``running`` while it runs; ``completed`` when every action was published;
``interrupted`` when a stop was requested (SIGTERM/SIGINT): the targets still active get their
``stop`` first; ``failed`` when a command could not be published (the active targets get a
best-effort ``stop``) or the scenario is invalid.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Protocol

from config_app.models import DriftScenario, ScenarioRun
from config_app.scenario_selectors import scenario_steps_get
from config_app.services.scenarios import scenario_run_finish, scenario_run_start, scenario_target_acknowledged
from detection.core.events import datetime_to_ms
from producers.control import START, STOP, ControlCommand, StepSpec, plan_schedule, step_window

__all__ = ["Clock", "ScenarioRunFailed", "SystemClock", "scenario_execute", "scenario_steps"]



class ScenarioRunFailed(RuntimeError):
    """A command could not be published; ``run`` is the recorded (``failed``) run."""

    def __init__(self, run: ScenarioRun, message: str) -> None:
        super().__init__(message)
        self.run = run


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (schedules actions)."""

    def now(self) -> dt.datetime:
        """The aware UTC wall-clock time (recorded times, ``issued_at``)."""

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; return True as soon as a stop is requested (else False)."""


class SystemClock:
    """The real clocks; ``stop`` (set by the SIGTERM handler) cuts a wait short."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def wait(self, seconds: float) -> bool:
        return self.stop.wait(max(0.0, seconds))


def scenario_steps(scenario: DriftScenario) -> list[StepSpec]:
    """The scenario's steps as plain values, in their stored order."""
    return [
        StepSpec(
            source_id=step.source_id,
            metric=step.metric,
            kind=step.kind,
            magnitude=step.magnitude,
            start_offset_seconds=step.start_offset_seconds,
            duration_seconds=step.duration_seconds,
        )
        for step in scenario_steps_get(scenario)
    ]


def scenario_execute(
    *,
    scenario: DriftScenario,
    publish: Callable[[ControlCommand], object],
    clock: Clock,
    time_scale: float = 1.0,
    log: Callable[[str], None] = lambda text: None,
) -> ScenarioRun:
    """Run ``scenario`` once: record a ``ScenarioRun`` with its targets, publish every start/stop
    at its time (offsets relative to the run's start, times ``time_scale``), record each
    command's acknowledged time, and finish the run. Returns the finished run.

    ``publish`` sends one command and returns only once the broker acknowledged it (raising
    otherwise), e.g. :meth:`producers.kafka.ControlPublisher.publish`; if it raises, the run is
    recorded as ``failed`` and :class:`ScenarioRunFailed` (with the run) is raised.
    A bad scenario (no steps, overlapping steps) raises ``ValueError`` before anything is recorded.
    """
    steps = scenario_steps(scenario)
    if not steps:
        raise ValueError(f"scenario {scenario.name!r} has no steps")
    schedule = plan_schedule(steps, time_scale)

    started_at = clock.now()
    t0 = clock.monotonic()
    windows = [step_window(step, time_scale) for step in steps]
    run, targets = scenario_run_start(scenario=scenario, started_at=started_at, time_scale=time_scale, targets=[
        (step.source_id, step.metric, step.kind, step.magnitude,
         started_at + dt.timedelta(seconds=start), started_at + dt.timedelta(seconds=end))
        for step, (start, end) in zip(steps, windows)
    ])
    log(f"run {run.pk} of scenario {scenario.name!r} started: {len(steps)} step(s), {len(schedule)} command(s), "
        f"time scale {time_scale:g}")

    active: dict[int, object] = {}  # step index -> its ScenarioRunTarget, while started

    def send(command: str, index: int) -> None:
        target = targets[index]
        cmd = ControlCommand(
            command=command, run_id=run.pk, source_id=target.source_id, metric=target.metric,
            kind=target.kind, magnitude=float(target.magnitude), issued_at_ms=datetime_to_ms(clock.now()),
        )
        publish(cmd)
        acknowledged = clock.now()
        scenario_target_acknowledged(target, started=command == START, at=acknowledged)
        if command == START:
            active[index] = target
        else:
            active.pop(index, None)
        log(f"run {run.pk}: {command} {target.source_id}/{target.metric} {target.kind} {target.magnitude:g} "
            f"acknowledged at {acknowledged.isoformat()}")

    def stop_active() -> list[str]:
        problems = []
        for index in sorted(active):
            try:
                send(STOP, index)
            except Exception as exc:  # noqa: BLE001 - best effort, reported on the run
                problems.append(f"stop {targets[index].source_id}/{targets[index].metric}: {exc}")
        return problems

    status = ScenarioRun.Status.COMPLETED
    errors: list[str] = []
    try:
        for action in schedule:
            if clock.wait(action.at_seconds - (clock.monotonic() - t0)):
                status = ScenarioRun.Status.INTERRUPTED
                break
            if action.command == STOP and action.step_index not in active:
                continue  # its start was never acknowledged
            send(action.command, action.step_index)
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then raised as ScenarioRunFailed
        status = ScenarioRun.Status.FAILED
        errors.append(f"{type(exc).__name__}: {exc}")
        errors.extend(stop_active())
        _finish(run, status, errors, clock)
        log(f"run {run.pk} failed: {'; '.join(errors)}")
        raise ScenarioRunFailed(run, "; ".join(errors)) from exc
    if status == ScenarioRun.Status.INTERRUPTED:
        errors.extend(stop_active())
    _finish(run, status, errors, clock)
    log(f"run {run.pk} {status}" + (f": {'; '.join(errors)}" if errors else ""))
    return run


def _finish(run: ScenarioRun, status: str, errors: list[str], clock: Clock) -> None:
    scenario_run_finish(run, status=status, errors=errors, finished_at=clock.now())
