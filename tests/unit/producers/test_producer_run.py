"""The producer loop's bookkeeping with an in-memory sink (the same runs go through the real
broker in tests/integration/producers/test_run_producer.py)."""

from __future__ import annotations

import threading
from collections import Counter

import orjson
import pytest

from detection.core.events import InvalidEvent, iso_to_ms, kafka_key, ms_to_iso, parse_event
from producers.control import ControlCommand
from producers.injection import InjectionRates
from producers.runner import ProducerPlan, ProducerRun, source_ids_for
from producers.signals import Effect, StableSignal, make_signal

START_MS = 1_700_000_000_000


class ListSink:
    topic = "memory"

    def __init__(self, stop_after=None, stop=None):
        self.messages: list[tuple[bytes, bytes]] = []
        self.sent = self.delivered = self.failed = 0
        self.stop_after, self.stop = stop_after, stop

    def send(self, key, value):
        self.messages.append((key, value))
        self.sent += 1
        if self.stop_after is not None and self.sent >= self.stop_after:
            self.stop.set()

    def poll(self, timeout=0.0):
        self.delivered = self.sent

    def flush(self, timeout):
        self.delivered = self.sent
        return 0


class FakeTime:
    """A monotonic clock that advances ``step`` seconds per reading (no sleeping)."""

    def __init__(self, step=0.0):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


class ScriptedCommands:
    """Hands out ``script[n]`` on the n-th poll; a poll with a timeout advances ``clock``."""

    invalid = 0

    def __init__(self, script, clock=None):
        self.script, self.polls, self.clock = script, 0, clock

    def poll(self, timeout=0.0):
        if self.clock is not None:
            self.clock.t += timeout
        out = self.script.get(self.polls, [])
        self.polls += 1
        return out


def plan(**kw):
    base = dict(kind="stable", source_ids=source_ids_for("stable", 2), metrics=("cpu", "latency_ms"),
                rate_per_key=4.0, seed=5, simulated_clock=True, start_time_ms=START_MS)
    return ProducerPlan(**{**base, **kw})


def decoded(sink):
    return [(key, orjson.loads(value)) for key, value in sink.messages]


def test_simulated_count_produces_exactly_the_expected_events_in_tick_order():
    sink = ListSink()
    summary = ProducerRun(plan(count=10), sink=sink, say=lambda _: None).run()
    signal = StableSignal(5)
    keys = [(s, m) for s in ("stable-000", "stable-001") for m in ("cpu", "latency_ms")]
    expected = []
    for i in range(10):
        s, m = keys[i % 4]
        t = START_MS + (i // 4) * 250
        expected.append((kafka_key(s, m), {"source_id": s, "metric": m, "value": signal.value_at(s, m, t),
                                           "event_time": ms_to_iso(t)}))
    assert decoded(sink) == expected
    assert summary["events"] == summary["messages"] == summary["delivered"] == 10
    assert summary["first_event_time"] == ms_to_iso(START_MS)
    assert summary["last_event_time"] == ms_to_iso(START_MS + 500)
    assert summary["interrupted"] is False and summary["delivery_errors"] == 0


def test_simulated_duration_covers_exactly_that_much_event_time():
    sink = ListSink()
    summary = ProducerRun(plan(duration_seconds=2.0, rate_per_key=3.0), sink=sink, say=lambda _: None).run()
    times = sorted({v["event_time"] for _, v in decoded(sink)})
    assert times == [ms_to_iso(START_MS + round(i * 1000 / 3)) for i in range(6)]
    assert summary["events"] == 6 * 4


@pytest.mark.parametrize("kind", ["stable", "dynamic", "drift"])
def test_same_plan_same_messages(kind):
    runs = []
    for _ in range(2):
        sink = ListSink()
        ProducerRun(plan(kind=kind, count=200, injection=InjectionRates(duplicate=0.1, out_of_order=0.1,
                                                                         malformed=0.1)),
                    sink=sink, say=lambda _: None).run()
        runs.append(sink.messages)
    assert runs[0] == runs[1]
    signal = make_signal(kind, 5)
    checked = 0
    for _, raw in runs[0]:
        try:
            event = parse_event(raw, now_ms=None, max_future_skew_ms=0)
        except InvalidEvent:
            continue
        assert event.value == signal.value_at(event.source_id, event.metric, event.event_time_ms)
        checked += 1
    assert checked >= 200


def test_injected_faults_are_counted_and_every_event_is_sent_once():
    rates = InjectionRates(duplicate=0.05, out_of_order=0.05, late=0.02, malformed=0.05)
    sink = ListSink()
    summary = ProducerRun(plan(count=4000, rate_per_key=10.0, injection=rates), sink=sink, say=lambda _: None).run()
    valid, reasons = [], Counter()
    for key, raw in sink.messages:
        try:
            event = parse_event(raw, now_ms=None, max_future_skew_ms=0)
        except InvalidEvent as exc:
            reasons[exc.reason] += 1
            continue
        assert key == kafka_key(event.source_id, event.metric)
        valid.append(event)
    ids = Counter(e.event_id for e in valid)
    assert len(ids) == summary["events"] == 4000
    assert sum(n - 1 for n in ids.values()) == summary["duplicates"] > 0
    assert sum(reasons.values()) == summary["malformed_total"] > 0
    assert summary["messages"] == len(sink.messages) == 4000 + summary["duplicates"] + summary["malformed_total"]
    # held events arrive after newer events of their key
    newest: dict[tuple, int] = {}
    behind = []
    for e in valid:
        key = (e.source_id, e.metric)
        if e.event_time_ms < newest.get(key, -1):
            behind.append(newest[key] - e.event_time_ms)
        newest[key] = max(newest.get(key, -1), e.event_time_ms)
    held = summary["out_of_order"] + summary["late"]
    assert held - 4 <= len(behind) <= held  # at most one tail event per key is not overtaken
    assert sum(lag > 5000 for lag in behind) >= summary["late"] // 2 > 0


def test_commands_change_the_values_of_the_targeted_key_only_from_their_poll_on():
    signal = StableSignal(5)
    start = ControlCommand("start", 1, "drift-000", "cpu", "mean_shift", 3.0, 0)
    stop = ControlCommand("stop", 1, "drift-000", "cpu", "mean_shift", 3.0, 0)
    other = ControlCommand("start", 1, "drift-000", "memory", "variance", 2.0, 0)
    commands = ScriptedCommands({5: [start, other], 10: [stop]})
    sink = ListSink()
    summary = ProducerRun(
        plan(kind="drift", source_ids=("drift-000", "drift-001"), metrics=("cpu",), count=30),
        sink=sink, control=commands, monotonic=FakeTime(step=1.0), say=lambda _: None,
    ).run()
    phases = []
    for _, v in decoded(sink):
        t = iso_to_ms(v["event_time"])
        base = signal.value_at(v["source_id"], "cpu", t)
        if v["source_id"] == "drift-001":
            assert v["value"] == base
            continue
        if v["value"] == base:
            phases.append("normal")
        else:
            assert v["value"] == signal.value_at("drift-000", "cpu", t, (Effect("mean_shift", 3.0),))
            phases.append("shifted")
    assert phases == ["normal"] * 5 + ["shifted"] * 5 + ["normal"] * 5
    assert summary["commands_applied"] == 2 and summary["commands_ignored"] == 1


def test_wall_clock_mode_spaces_ticks_by_the_rate():
    clock = FakeTime()
    commands = ScriptedCommands({}, clock=clock)
    sink = ListSink()
    summary = ProducerRun(
        plan(kind="drift", simulated_clock=False, start_time_ms=None, count=12, rate_per_key=2.0),
        sink=sink, control=commands, monotonic=clock, wall_ms=lambda: START_MS, say=lambda _: None,
    ).run()
    times = sorted({v["event_time"] for _, v in decoded(sink)})
    assert times == [ms_to_iso(START_MS + 500 * i) for i in range(3)]
    assert clock.t >= 1.0  # it waited (on the fake clock) for ticks 1 and 2
    assert summary["events"] == 12


def test_stop_request_ends_the_run_and_still_sends_held_events():
    stop = threading.Event()
    sink = ListSink(stop_after=50, stop=stop)
    summary = ProducerRun(plan(count=10_000, injection=InjectionRates(late=0.2)), sink=sink, stop=stop,
                          say=lambda _: None).run()
    assert summary["interrupted"] is True
    assert summary["events"] < 10_000
    ids = {parse_event(v, now_ms=None, max_future_skew_ms=0).event_id for _, v in sink.messages}
    assert len(ids) == summary["events"]  # the held (late) ones were sent before the end


@pytest.mark.parametrize(
    "bad",
    [dict(kind="chaos"), dict(source_ids=()), dict(metrics=("cpu", "cpu")), dict(rate_per_key=0),
     dict(count=-1), dict(duration_seconds=float("nan"))],
)
def test_bad_plans_are_refused(bad):
    with pytest.raises(ValueError):
        plan(**bad)


@pytest.mark.parametrize(("bound", "last_offset_ms"), [(dict(count=10), 500), (dict(duration_seconds=2.0), 1750)])
def test_simulated_run_without_start_time_ends_now(bound, last_offset_ms):
    sink = ListSink()
    now = START_MS + 10_000
    summary = ProducerRun(plan(start_time_ms=None, **bound), sink=sink, wall_ms=lambda: now, say=lambda _: None).run()
    assert summary["last_event_time"] == ms_to_iso(now)
    assert summary["first_event_time"] == ms_to_iso(now - last_offset_ms)
