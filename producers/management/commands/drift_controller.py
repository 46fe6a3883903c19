"""manage.py drift_controller --scenario NAME [--time-scale F]: run a drift scenario.

Records a ScenarioRun (+ one ScenarioRunTarget per step), publishes start/stop commands on the
control topic at their offsets from now (times --time-scale), records when the broker
acknowledged each, and finishes the run. stdout gets ONE JSON line at the end (the run and its
targets); stderr gets a line per command. Exit status: 0 completed; 1 failed (a command was not
acknowledged) or a usage error; 128 + signal number when interrupted by SIGTERM/SIGINT (the
active targets are stopped first).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config_app.models import DriftScenario, ScenarioRun
from config_app.scenario_selectors import scenario_get, scenario_names_get
from producers.control import plan_schedule
from producers.controller import ScenarioRunFailed, SystemClock, scenario_execute, scenario_steps
from producers.kafka import ControlPublisher, KafkaSetupError, producer_config
from driftsite.shutdown import StopRequest, stop_on_signals


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError
    return value


class Command(BaseCommand):
    help = "Run a drift scenario: timed start/stop commands on the control topic, with recorded ground truth."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", required=True, help="DriftScenario name (see the admin, or seed_scenarios).")
        parser.add_argument("--time-scale", type=_positive, default=1.0,
                            help="Multiply every offset and duration by this (e.g. 0.1 runs 10x faster; default 1).")
        parser.add_argument("--topic", help="Control topic (default settings.KAFKA_CONTROL_TOPIC).")
        parser.add_argument("--bootstrap-servers", help="Kafka brokers (default settings.KAFKA_BOOTSTRAP_SERVERS).")
        parser.add_argument("--publish-timeout", type=_positive, default=30.0,
                            help="Seconds to wait for the broker to acknowledge a command (default 30).")
        parser.add_argument("--plan", action="store_true", help="Print the schedule and exit (no run, nothing published).")

    def handle(self, *args, **opts):
        try:
            scenario = scenario_get(opts["scenario"])
        except DriftScenario.DoesNotExist:
            names = ", ".join(scenario_names_get()) or "none; try seed_scenarios"
            raise CommandError(f"no scenario named {opts['scenario']!r} (have: {names})") from None
        time_scale = opts["time_scale"]
        try:
            schedule = plan_schedule(scenario_steps(scenario), time_scale)
        except ValueError as exc:
            raise CommandError(f"scenario {scenario.name!r}: {exc}") from None
        if not schedule:
            raise CommandError(f"scenario {scenario.name!r} has no steps")
        if opts["plan"]:
            for action in schedule:
                step = action.step
                self.stdout.write(f"+{action.at_seconds:.3f}s {action.command:5} {step.source_id}/{step.metric} "
                                  f"{step.kind} {step.magnitude:g}")
            return
        if not scenario.enabled:
            raise CommandError(f"scenario {scenario.name!r} is disabled (enable it in the admin)")

        topic = opts["topic"] or settings.KAFKA_CONTROL_TOPIC
        bootstrap = opts["bootstrap_servers"] or settings.KAFKA_BOOTSTRAP_SERVERS
        timeout = opts["publish_timeout"]
        publisher = ControlPublisher(
            producer_config(bootstrap, delivery_timeout_seconds=timeout, throughput=False), topic, timeout_seconds=timeout
        )
        try:
            publisher.check_topic()
        except KafkaSetupError as exc:
            raise CommandError(str(exc)) from None

        request = StopRequest()
        failure = None
        with stop_on_signals(request):
            try:
                run = scenario_execute(
                    scenario=scenario, publish=publisher.publish, clock=SystemClock(request.event),
                    time_scale=time_scale, log=self.stderr.write,
                )
            except ScenarioRunFailed as exc:
                failure, run = exc, exc.run
            finally:
                publisher.close()
        self.stdout.write(json.dumps(_summary(run), sort_keys=True))
        if failure is not None:
            raise CommandError(f"run {run.pk} of scenario {scenario.name!r} failed: {failure}")
        if run.status == ScenarioRun.Status.INTERRUPTED:
            raise CommandError(f"run {run.pk} interrupted", returncode=128 + (request.signum or 15))


def _summary(run: ScenarioRun) -> dict:
    def iso(moment):
        return moment.isoformat() if moment is not None else None

    return {
        "run_id": run.pk,
        "scenario": run.scenario.name,
        "status": run.status,
        "seed": run.seed,
        "time_scale": run.time_scale,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "error": run.error,
        "targets": [
            {
                "source_id": t.source_id, "metric": t.metric, "kind": t.kind, "magnitude": t.magnitude,
                "planned_start": iso(t.planned_start), "planned_end": iso(t.planned_end),
                "actual_start": iso(t.actual_start), "actual_end": iso(t.actual_end),
            }
            for t in run.targets.all()
        ],
    }
