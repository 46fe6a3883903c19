"""Control messages, scenario schedules and the drift producer's effect book (pure)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.control import (
    ControlCommand,
    EffectBook,
    InvalidCommand,
    StepSpec,
    decode_command,
    encode_command,
    plan_schedule,
)
from producers.signals import Effect

GOOD = {
    "command": "start", "run_id": 7, "target": {"source_id": "drift-000", "metric": "cpu"},
    "kind": "mean_shift", "magnitude": 4.0, "issued_at": "2024-01-01T00:00:30.250Z",
}

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(lambda s: not s.isspace())


@given(
    command=st.sampled_from(["start", "stop"]), run_id=st.integers(0, 2**53), source_id=names, metric=names,
    kind=st.sampled_from(["mean_shift", "variance"]),
    magnitude=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False).filter(lambda m: m != 1.0),
    issued_at_ms=st.integers(0, 4_102_444_800_000),
)
@settings(max_examples=300)
def test_encode_decode_round_trip(command, run_id, source_id, metric, kind, magnitude, issued_at_ms):
    cmd = ControlCommand(command, run_id, source_id, metric, kind, magnitude, issued_at_ms)
    assert decode_command(encode_command(cmd)) == cmd


def test_encoded_message_has_the_documented_shape():
    cmd = ControlCommand("stop", 3, "drift-001", "latency_ms", "variance", 4.0, 1704067200000)
    assert orjson.loads(encode_command(cmd)) == {
        "command": "stop", "run_id": 3, "target": {"source_id": "drift-001", "metric": "latency_ms"},
        "kind": "variance", "magnitude": 4.0, "issued_at": "2024-01-01T00:00:00.000Z",
    }


def test_decode_accepts_any_offset_and_integer_magnitudes():
    cmd = decode_command(orjson.dumps({**GOOD, "issued_at": "2024-01-01T02:00:30.250+02:00", "magnitude": 3}))
    assert cmd.issued_at_ms == 1704067230250
    assert cmd.magnitude == 3.0 and isinstance(cmd.magnitude, float)
    assert cmd.effect == Effect("mean_shift", 3.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "kind"}), "missing fields: kind"),
        (orjson.dumps({**GOOD, "command": "pause"}), "command must be"),
        (orjson.dumps({**GOOD, "kind": "trend"}), "kind must be"),
        (orjson.dumps({**GOOD, "magnitude": 0}), "> 0"),
        (orjson.dumps({**GOOD, "magnitude": "4"}), "finite number"),
        (orjson.dumps({**GOOD, "kind": "variance", "magnitude": 1.0}), "changes nothing"),
        (orjson.dumps({**GOOD, "run_id": -1}), "run_id"),
        (orjson.dumps({**GOOD, "run_id": True}), "run_id"),
        (orjson.dumps({**GOOD, "target": "drift-000/cpu"}), "target must be"),
        (orjson.dumps({**GOOD, "target": {"source_id": "", "metric": "cpu"}}), "source_id"),
        (orjson.dumps({**GOOD, "issued_at": "2024-01-01T00:00:30"}), "issued_at"),
        (orjson.dumps({**GOOD, "issued_at": "soon"}), "issued_at"),
        (b'{"command":"start","run_id":1,"target":{"source_id":"a","metric":"b"},"kind":"mean_shift",'
         b'"magnitude":NaN,"issued_at":"2024-01-01T00:00:00Z"}', "not JSON"),
    ],
)
def test_decode_rejects_bad_messages_with_a_reason(raw, message):
    with pytest.raises(InvalidCommand, match=message):
        decode_command(raw)


# --- schedule -----------------------------------------------------------------------------
def step(source="drift-000", metric="cpu", kind="mean_shift", magnitude=4.0, offset=30.0, duration=60.0):
    return StepSpec(source, metric, kind, magnitude, offset, duration)


def test_schedule_orders_actions_by_time_and_scales_them():
    steps = [step(offset=30, duration=60), step("drift-001", "latency_ms", "variance", 4.0, 60, 45)]
    plan = [(a.at_seconds, a.command, a.step_index) for a in plan_schedule(steps)]
    assert plan == [(30.0, "start", 0), (60.0, "start", 1), (90.0, "stop", 0), (105.0, "stop", 1)]
    scaled = [(a.at_seconds, a.command, a.step_index) for a in plan_schedule(steps, time_scale=0.01)]
    assert scaled == [(pytest.approx(t * 0.01), c, i) for t, c, i in plan]


def test_schedule_is_a_pure_function_of_the_steps():
    steps = [step(offset=5, duration=5), step("b", offset=0, duration=20), step("c", offset=5, duration=1)]
    assert plan_schedule(steps) == plan_schedule(list(steps))
    # equal times: stop before start, then step order
    steps = [step(offset=0, duration=10), step(offset=10, duration=5), step("b", offset=10, duration=1)]
    assert [(a.at_seconds, a.command, a.step_index) for a in plan_schedule(steps)] == [
        (0.0, "start", 0), (10.0, "stop", 0), (10.0, "start", 1), (10.0, "start", 2),
        (11.0, "stop", 2), (15.0, "stop", 1),
    ]


def test_overlapping_steps_on_the_same_target_and_kind_are_refused():
    with pytest.raises(ValueError, match="steps 1 and 2 overlap on drift-000/cpu"):
        plan_schedule([step(offset=0, duration=10), step(offset=9.5, duration=10)])
    # another kind on the same key, or back to back, is fine
    plan_schedule([step(offset=0, duration=10), step(kind="variance", magnitude=2.0, offset=5, duration=10)])
    plan_schedule([step(offset=0, duration=10), step(offset=10, duration=10)])


@pytest.mark.parametrize(
    "bad",
    [dict(offset=-1), dict(duration=0), dict(duration=float("inf")), dict(magnitude=0),
     dict(kind="variance", magnitude=1.0), dict(source=""), dict(metric=" ")],
)
def test_bad_steps_are_refused(bad):
    with pytest.raises(ValueError):
        step(**bad)


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_bad_time_scale_is_refused(scale):
    with pytest.raises(ValueError, match="time_scale"):
        plan_schedule([step()], time_scale=scale)


# --- effect book --------------------------------------------------------------------------
def cmd(command, run_id=1, source="drift-000", metric="cpu", kind="mean_shift", magnitude=4.0):
    return ControlCommand(command, run_id, source, metric, kind, magnitude, 0)


def test_effect_book_applies_start_and_stop_per_run_and_kind():
    book = EffectBook([("drift-000", "cpu"), ("drift-001", "cpu")])
    assert book.apply(cmd("start"))
    assert not book.apply(cmd("start"))  # a redelivered start changes nothing
    assert book.apply(cmd("start", run_id=2, kind="variance", magnitude=3.0))
    assert book.effects_for("drift-000", "cpu") == (Effect("mean_shift", 4.0), Effect("variance", 3.0))
    assert book.effects_for("drift-001", "cpu") == ()
    assert book.active_count == 2
    assert book.apply(cmd("stop", magnitude=99.0))  # identified by run + kind, not magnitude
    assert book.effects_for("drift-000", "cpu") == (Effect("variance", 3.0),)
    assert not book.apply(cmd("stop"))  # already stopped
    assert book.apply(cmd("stop", run_id=2, kind="variance", magnitude=3.0))
    assert book.effects_for("drift-000", "cpu") == () and book.active_count == 0


def test_effect_book_ignores_keys_it_does_not_produce():
    book = EffectBook([("drift-000", "cpu")])
    assert not book.apply(cmd("start", source="drift-009"))
    assert not book.apply(cmd("start", metric="latency_ms"))
    assert book.active_count == 0
