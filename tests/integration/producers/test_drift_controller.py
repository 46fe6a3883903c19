"""drift_controller on the real broker and Postgres: commands in order on the control topic,
ground truth recorded as each command is acknowledged; interrupt and failure paths."""

from __future__ import annotations

import datetime as dt
import json
import signal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from config_app.management.commands.seed_scenarios import DEMO_SCENARIO
from config_app.models import DriftScenario, ScenarioRun, ScenarioStep
from detection.core.events import iso_to_ms, kafka_key
from producers.control import decode_command
from producers.controller import ScenarioRunFailed, scenario_execute
from producers.kafka import ControlPublisher, producer_config


def commands_on(messages):
    return [(decode_command(m.value()), m) for m in messages]


def scenario_with(name, steps, seed=5):
    scenario = DriftScenario.objects.create(name=name, seed=seed)
    for s in steps:
        ScenarioStep.objects.create(scenario=scenario, **s)
    return scenario


def publisher_for(bootstrap, topic, timeout=30.0):
    return ControlPublisher(producer_config(bootstrap, delivery_timeout_seconds=timeout, throughput=False), topic,
                            timeout_seconds=timeout)


@pytest.mark.django_db
def test_seed_scenarios_is_idempotent_and_restores_the_demo():
    out = StringIO()
    call_command("seed_scenarios", stdout=out)
    call_command("seed_scenarios", stdout=out)
    assert out.getvalue().splitlines()[-1].endswith("unchanged (2 steps)")
    demo = DriftScenario.objects.get(name="demo")
    steps = list(demo.steps.values("source_id", "metric", "kind", "magnitude", "start_offset_seconds", "duration_seconds"))
    assert sorted(steps, key=lambda s: s["source_id"]) == DEMO_SCENARIO["steps"]
    # an edited demo is brought back; a disabled one stays disabled
    demo.steps.filter(source_id="drift-000").update(magnitude=9.0)
    DriftScenario.objects.filter(pk=demo.pk).update(enabled=False)
    call_command("seed_scenarios", stdout=out)
    assert out.getvalue().splitlines()[-1].endswith("created/updated (2 steps)")
    assert demo.steps.get(source_id="drift-000").magnitude == 4.0
    assert not DriftScenario.objects.get(pk=demo.pk).enabled


@pytest.mark.django_db
def test_scaled_down_demo_publishes_start_and_stop_in_order_and_records_ground_truth(control_topic, topic_reader):
    call_command("seed_scenarios", stdout=StringIO())
    out, err = StringIO(), StringIO()
    call_command("drift_controller", "--scenario", "demo", "--time-scale", "0.01", "--topic", control_topic,
                 stdout=out, stderr=err)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["time_scale"] == 0.01 and summary["seed"] == 42

    commands = commands_on(topic_reader(control_topic).read_count(4))
    assert len(commands) == 4
    assert {c.run_id for c, _ in commands} == {summary["run_id"]}
    for cmd, msg in commands:
        assert msg.key() == kafka_key(cmd.source_id, cmd.metric)
    by_time = [(c.command, c.source_id) for c, _ in sorted(commands, key=lambda cm: cm[0].issued_at_ms)]
    assert by_time == [("start", "drift-000"), ("start", "drift-001"), ("stop", "drift-000"), ("stop", "drift-001")]
    for source, kind, magnitude in (("drift-000", "mean_shift", 4.0), ("drift-001", "variance", 4.0)):
        mine = [c for c, _ in commands if c.source_id == source]
        assert [c.command for c in mine] == ["start", "stop"]  # one partition per target: in order
        assert all(c.kind == kind and c.magnitude == magnitude for c in mine)

    run = ScenarioRun.objects.get(pk=summary["run_id"])
    assert run.status == "completed" and run.finished_at >= run.started_at and run.error == ""
    targets = {t.source_id: t for t in run.targets.all()}
    assert set(targets) == {"drift-000", "drift-001"}
    for t, (offset, duration) in ((targets["drift-000"], (30, 60)), (targets["drift-001"], (60, 45))):
        assert t.planned_start == run.started_at + dt.timedelta(seconds=offset * 0.01)
        assert t.planned_end == run.started_at + dt.timedelta(seconds=(offset + duration) * 0.01)
        assert t.actual_start is not None and t.actual_end is not None
        assert t.actual_start < t.actual_end
        issued = {c.command: c.issued_at_ms for c, _ in commands if c.source_id == t.source_id}
        assert iso_to_ms(t.actual_start.isoformat()) >= issued["start"]  # recorded after the broker's ack
    assert targets["drift-000"].actual_start < targets["drift-001"].actual_start < targets["drift-000"].actual_end


@pytest.mark.django_db
def test_each_command_goes_out_at_its_planned_time_on_the_injected_clock(
    kafka_bootstrap, control_topic, topic_reader, manual_clock,
):
    scenario = scenario_with("clocked", [
        dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=2.0, start_offset_seconds=10, duration_seconds=20),
        dict(source_id="b", metric="cpu", kind="variance", magnitude=3.0, start_offset_seconds=15, duration_seconds=5),
    ])
    clock = manual_clock()
    run = scenario_execute(scenario=scenario, publish=publisher_for(kafka_bootstrap, control_topic).publish,
                           clock=clock, time_scale=1.0)
    assert clock.waits == [10.0, 5.0, 5.0, 10.0]  # no real sleeping: the clock jumps to each action
    assert run.status == "completed" and run.started_at == clock.start
    for target in run.targets.all():
        assert target.actual_start == target.planned_start
        assert target.actual_end == target.planned_end
    assert run.finished_at == clock.start + dt.timedelta(seconds=30)
    commands = [c for c, _ in commands_on(topic_reader(control_topic).read_count(4))]
    assert sorted((c.issued_at_ms - iso_to_ms(clock.start.isoformat()), c.command, c.source_id) for c in commands) == [
        (10_000, "start", "a"), (15_000, "start", "b"), (20_000, "stop", "b"), (30_000, "stop", "a"),
    ]


@pytest.mark.django_db
def test_interrupt_stops_the_active_targets_and_marks_the_run_interrupted(
    kafka_bootstrap, control_topic, topic_reader, manual_clock,
):
    scenario = scenario_with("interrupted", [
        dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=4.0, start_offset_seconds=0, duration_seconds=60),
        dict(source_id="b", metric="cpu", kind="mean_shift", magnitude=4.0, start_offset_seconds=30, duration_seconds=60),
    ])
    clock = manual_clock(stop_at=20)
    run = scenario_execute(scenario=scenario, publish=publisher_for(kafka_bootstrap, control_topic).publish,
                           clock=clock)
    assert run.status == "interrupted"
    a, b = run.targets.get(source_id="a"), run.targets.get(source_id="b")
    assert a.actual_start == clock.start and a.actual_end == clock.start + dt.timedelta(seconds=20)
    assert b.actual_start is None and b.actual_end is None
    commands = [c for c, _ in commands_on(topic_reader(control_topic).read_count(2))]
    assert [(c.command, c.source_id) for c in commands] == [("start", "a"), ("stop", "a")]


@pytest.mark.django_db
def test_an_unacknowledged_command_fails_the_run(manual_clock):
    scenario = scenario_with("unreachable", [
        dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=4.0, start_offset_seconds=0, duration_seconds=5),
    ])
    publisher = publisher_for("127.0.0.1:1", "nowhere", timeout=1.0)
    with pytest.raises(ScenarioRunFailed) as info:
        scenario_execute(scenario=scenario, publish=publisher.publish, clock=manual_clock())
    assert publisher.close(timeout=0) == 1  # the refused command, dropped
    run = ScenarioRun.objects.get(pk=info.value.run.pk)
    assert run.status == "failed" and "not confirmed" in run.error and run.finished_at is not None
    assert run.targets.get().actual_start is None


@pytest.mark.django_db
def test_unknown_disabled_or_overlapping_scenarios_are_refused(control_topic):
    with pytest.raises(CommandError, match="no scenario named 'nope'"):
        call_command("drift_controller", "--scenario", "nope", stdout=StringIO(), stderr=StringIO())
    scenario_with("off", [dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=1.0,
                               start_offset_seconds=0, duration_seconds=1)])
    DriftScenario.objects.filter(name="off").update(enabled=False)
    with pytest.raises(CommandError, match="disabled"):
        call_command("drift_controller", "--scenario", "off", "--topic", control_topic, stdout=StringIO(), stderr=StringIO())
    scenario_with("clash", [
        dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=1.0, start_offset_seconds=0, duration_seconds=10),
        dict(source_id="a", metric="cpu", kind="mean_shift", magnitude=2.0, start_offset_seconds=5, duration_seconds=10),
    ])
    with pytest.raises(CommandError, match="overlap"):
        call_command("drift_controller", "--scenario", "clash", "--topic", control_topic, stdout=StringIO(), stderr=StringIO())
    DriftScenario.objects.filter(name="off").update(enabled=True)
    with pytest.raises(CommandError, match="'no.such.topic' is not usable"):
        call_command("drift_controller", "--scenario", "off", "--topic", "no.such.topic", stdout=StringIO(), stderr=StringIO())
    assert not ScenarioRun.objects.exists()


@pytest.mark.django_db
def test_plan_prints_the_schedule_without_running():
    call_command("seed_scenarios", stdout=StringIO())
    out = StringIO()
    call_command("drift_controller", "--scenario", "demo", "--time-scale", "0.5", "--plan", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[0:2] for line in lines] == [
        ["+15.000s", "start"], ["+30.000s", "start"], ["+45.000s", "stop"], ["+52.500s", "stop"],
    ]
    assert not ScenarioRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sigterm_interrupts_the_controller_process(control_topic, topic_reader, manage_py):
    scenario_with("long", [dict(source_id="drift-000", metric="cpu", kind="mean_shift", magnitude=4.0,
                                start_offset_seconds=0, duration_seconds=600)])
    proc = manage_py("drift_controller", "--scenario", "long", "--topic", control_topic)
    reader = topic_reader(control_topic)
    reader.read_count(1, timeout=60)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "interrupted"
    commands = [c for c, _ in commands_on(reader.read_count(2))]
    assert [c.command for c in commands] == ["start", "stop"]
    target = ScenarioRun.objects.get(pk=summary["run_id"]).targets.get()
    assert target.actual_start < target.actual_end
