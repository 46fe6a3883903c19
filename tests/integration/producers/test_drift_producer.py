"""A drift producer process follows commands on the control topic (real broker): the targeted
keys' values change by exactly the commanded effect after a start and revert after the stop;
other keys never change."""

from __future__ import annotations

import json
import signal
import time

import pytest

from detection.core.events import parse_event
from producers.control import ControlCommand
from producers.kafka import ControlPublisher, producer_config
from producers.signals import Effect, StableSignal

SEED = 9
RUN_ID = 424242
EFFECTS = {
    ("drift-000", "cpu"): Effect("mean_shift", 4.0),
    ("drift-001", "cpu"): Effect("variance", 3.0),
}


class Phases:
    """Classifies each event of each key as normal / drifted by recomputing the pure signal,
    and keeps the sequence of phases per key (consecutive repeats collapsed)."""

    def __init__(self) -> None:
        self.signal = StableSignal(SEED)
        self.done = 0
        self.phases: dict[tuple[str, str], list[list]] = {}  # key -> [[phase, count], ...]

    def update(self, messages) -> None:
        for msg in messages[self.done:]:
            event = parse_event(msg.value(), now_ms=None, max_future_skew_ms=0)
            key = (event.source_id, event.metric)
            base = self.signal.value_at(*key, event.event_time_ms)
            if event.value == base:
                phase = "normal"
            else:
                assert key in EFFECTS, f"{key} changed without a command"
                assert event.value == self.signal.value_at(*key, event.event_time_ms, (EFFECTS[key],)), event
                phase = "drifted"
            runs = self.phases.setdefault(key, [])
            if runs and runs[-1][0] == phase:
                runs[-1][1] += 1
            else:
                runs.append([phase, 1])
        self.done = len(messages)

    def sequence(self, key) -> list[str]:
        return [phase for phase, _ in self.phases.get(key, [])]

    def last(self, key) -> tuple[str, int]:
        runs = self.phases.get(key) or [["none", 0]]
        return tuple(runs[-1])


def command(name: str, key: tuple[str, str]) -> ControlCommand:
    effect = EFFECTS[key]
    return ControlCommand(name, RUN_ID, key[0], key[1], effect.kind, effect.magnitude, time.time_ns() // 1_000_000)


@pytest.mark.django_db(transaction=True)
def test_drift_producer_applies_start_commands_and_reverts_after_stop(
    kafka_bootstrap, kafka_topic, control_topic, topic_reader, manage_py,
):
    proc = manage_py("run_producer", "--kind", "drift", "--sources", "3", "--metrics", "cpu", "--rate", "40",
                     "--duration", "600", "--seed", str(SEED), "--topic", kafka_topic, "--control-topic", control_topic)
    reader = topic_reader(kafka_topic)
    phases = Phases()

    def seen(predicate):
        def check(messages):
            phases.update(messages)
            return predicate()
        return check

    # The first events prove the producer is running, hence already following the control topic.
    reader.read_until(seen(lambda: all(phases.last(k)[0] == "normal" and phases.last(k)[1] >= 10 for k in EFFECTS)),
                      what="normal events of both targets")
    publisher = ControlPublisher(producer_config(kafka_bootstrap, throughput=False), control_topic)
    for key in EFFECTS:
        publisher.publish(command("start", key))
    reader.read_until(seen(lambda: all(phases.last(k)[0] == "drifted" and phases.last(k)[1] >= 20 for k in EFFECTS)),
                      what="20 drifted events of each target")
    for key in EFFECTS:
        publisher.publish(command("stop", key))
    reader.read_until(seen(lambda: all(phases.sequence(k)[-1:] == ["normal"] and phases.last(k)[1] >= 20
                                       and "drifted" in phases.sequence(k) for k in EFFECTS)),
                      what="20 normal events of each target after the stop")
    publisher.close()

    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["commands_applied"] == 4 and summary["delivery_errors"] == 0
    assert "control: start run=424242 drift-000/cpu mean_shift 4" in stderr
    phases.update(reader.read_count(summary["messages"]))
    for key in EFFECTS:
        assert phases.sequence(key) == ["normal", "drifted", "normal"]
    assert phases.sequence(("drift-002", "cpu")) == ["normal"]
