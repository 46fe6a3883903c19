"""The poison classes: messages on the events topic that are not valid events, or valid ones at
the edge of what a store can hold. Each must end in the dead-letter topic with a reason (or, for
an edge class whose contract allows it, be stored exactly once), without stopping a consumer.

``expect``:

- ``"dlq"``: not a valid event by the contract: must be dead-lettered with a reason header.
- ``"dlq_or_stored"``: the contract lets the system decide (event time before 1970, a BOM,
  one batch over more than 100 months of event time): every message of the class must be either
  dead-lettered with a reason or in raw_events exactly once. Never lost, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chaos.harness import Message
from detection.core.events import encode_event, event_id_for

_T = "2026-03-01T00:00:00.000Z"
_T_MS = 1772323200000


@dataclass(frozen=True)
class PoisonClass:
    name: str
    messages: tuple[Message, ...]
    expect: str = "dlq"


def _key(name: str) -> bytes:
    return f"poison|{name}".encode()


def _raw(name: str, value: bytes | None, expect: str = "dlq") -> PoisonClass:
    return PoisonClass(name, (Message(_key(name), value),), expect)


def _obj(name: str, fields: dict, expect: str = "dlq") -> PoisonClass:
    body = {"source_id": "poison-src", "metric": "cpu", "value": 1.0, "event_time": _T}
    for k, v in fields.items():
        if v is _DROP:
            body.pop(k)
        else:
            body[k] = v
    return _raw(name, json.dumps(body, allow_nan=True).encode(), expect)


_DROP = object()


def _valid_edge(name: str, source_id: str, metric: str, value: float, time_ms: int, *, raw: bytes | None = None) -> Message:
    payload = raw if raw is not None else encode_event(source_id, metric, value, time_ms)
    return Message(_key(name), payload, event_id_for(source_id, metric, value, time_ms))


def _month_span() -> PoisonClass:
    """120 valid events one month apart (2010-01 .. 2019-12), one key, back to back: one batch
    whose event times span 120 monthly partitions of raw_events."""
    import datetime as dt

    messages = []
    for i in range(120):
        moment = dt.datetime(2010 + i // 12, 1 + i % 12, 15, tzinfo=dt.UTC)
        ms = int(moment.timestamp() * 1000)
        messages.append(_valid_edge("month_span", "poison-months", "cpu", float(i), ms))
    return PoisonClass("month_span_120_months", tuple(messages), "dlq_or_stored")


def poison_classes() -> list[PoisonClass]:
    pad = "a" * (5 * 1024 * 1024)
    bom_event = encode_event("poison-bom", "cpu", 2.5, _T_MS)
    return [
        _raw("tombstone_null_value", None),
        _raw("empty_payload", b""),
        _raw("lz4_compressible_5mb", json.dumps({"source_id": "poison-big", "metric": "cpu", "value": 1.0,
                                                  "event_time": _T, "pad": pad}).encode()),
        _raw("oversized_64kb_plus_one", b'{"pad":"' + b"x" * 65536 + b'"}'),
        PoisonClass("event_time_before_1970", (_valid_edge("before_1970", "poison-old", "cpu", 1.0, -86_400_000),),
                    "dlq_or_stored"),
        _month_span(),
        PoisonClass("utf8_bom", (_valid_edge("utf8_bom", "poison-bom", "cpu", 2.5, _T_MS, raw=b"\xef\xbb\xbf" + bom_event),),
                    "dlq_or_stored"),
        _raw("nan_literal", b'{"source_id":"p","metric":"cpu","value":NaN,"event_time":"' + _T.encode() + b'"}'),
        _raw("infinity_literal", b'{"source_id":"p","metric":"cpu","value":Infinity,"event_time":"' + _T.encode() + b'"}'),
        _raw("minus_infinity", b'{"source_id":"p","metric":"cpu","value":-Infinity,"event_time":"' + _T.encode() + b'"}'),
        _raw("float_overflow_1e400", b'{"source_id":"p","metric":"cpu","value":1e400,"event_time":"' + _T.encode() + b'"}'),
        _raw("int_overflow_10e400", b'{"source_id":"p","metric":"cpu","value":' + b"9" * 400 + b',"event_time":"' + _T.encode() + b'"}'),
        _obj("huge_value_1e300", {"value": 1e300}),
        _obj("value_string", {"value": "1.5"}),
        _obj("value_bool", {"value": True}),
        _obj("value_list", {"value": [1.0]}),
        _obj("value_object", {"value": {"v": 1.0}}),
        _obj("value_null", {"value": None}),
        _obj("missing_value", {"value": _DROP}),
        _obj("missing_source_id", {"source_id": _DROP}),
        _obj("missing_metric", {"metric": _DROP}),
        _obj("missing_event_time", {"event_time": _DROP}),
        _obj("source_id_number", {"source_id": 42}),
        _obj("metric_null", {"metric": None}),
        _obj("source_id_empty", {"source_id": ""}),
        _obj("source_id_whitespace", {"source_id": "   "}),
        _obj("source_id_too_long", {"source_id": "s" * 300}),
        _obj("source_id_control_char", {"source_id": "bell\x07"}),
        _obj("source_id_nul", {"source_id": "nul\x00byte"}),
        _obj("metric_newline", {"metric": "cpu\nmem"}),
        _raw("source_id_lone_surrogate", b'{"source_id":"\\ud800","metric":"cpu","value":1.0,"event_time":"' + _T.encode() + b'"}'),
        _raw("raw_lone_surrogate_bytes", b'{"source_id":"\xed\xa0\x80","metric":"cpu","value":1.0,"event_time":"' + _T.encode() + b'"}'),
        _raw("invalid_utf8", b'{"source_id":"\xff\xfe","metric":"cpu","value":1.0,"event_time":"' + _T.encode() + b'"}'),
        _raw("utf16_encoded", json.dumps({"source_id": "p", "metric": "cpu", "value": 1.0, "event_time": _T}).encode("utf-16")),
        _raw("control_chars_around_json", b"\x00\x01" + encode_event("poison-ctl", "cpu", 1.0, _T_MS)),
        _obj("event_time_naive", {"event_time": "2026-03-01T00:00:00"}),
        _obj("event_time_garbage", {"event_time": "yesterday"}),
        _obj("event_time_number", {"event_time": 1772323200}),
        _obj("event_time_bad_offset", {"event_time": "2026-03-01T00:00:00+25:00"}),
        _obj("event_time_year_1", {"event_time": "0001-01-01T00:00:00Z"}),
        _obj("event_time_far_future", {"event_time": "2200-01-01T00:00:00Z"}),
        _obj("event_time_month_13", {"event_time": "2026-13-01T00:00:00Z"}),
        _raw("not_json_text", b"hello, world"),
        _raw("truncated_json", encode_event("poison-trunc", "cpu", 1.0, _T_MS)[:-7]),
        _raw("json_array", b"[1, 2, 3]"),
        _raw("json_string", b'"an event"'),
        _raw("json_number", b"42"),
        _raw("json_null_literal", b"null"),
        _raw("deep_nesting_array", b"[" * 100_000 + b"]" * 100_000),
        _raw("deep_nesting_in_value", b'{"source_id":"p","metric":"cpu","event_time":"' + _T.encode() + b'","value":'
             + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"),
        _raw("binary_garbage", bytes(range(256)) * 4),
    ]


def valid_events(*, keys: int = 4, per_key: int = 100) -> list[Message]:
    """Ordinary valid events that share the topic with the poison; none may be lost."""
    out = []
    for i in range(per_key):
        for k in range(keys):
            source_id = f"poison-valid-{k:02d}"
            value = float((i * 7 + k) % 13)
            t = _T_MS + i * 1000
            out.append(Message(f"{source_id}|cpu".encode(), encode_event(source_id, "cpu", value, t),
                               event_id_for(source_id, "cpu", value, t)))
    return out


def interleave(poison: list[PoisonClass], valid: list[Message]) -> list[tuple[str | None, Message]]:
    """Valid events with the poison spread among them: (class name or None, message)."""
    stream: list[tuple[str | None, Message]] = []
    every = max(1, len(valid) // (len(poison) + 1))
    queue = [(c.name, m) for c in poison for m in c.messages]
    for i, m in enumerate(valid):
        stream.append((None, m))
        if i % every == every - 1 and queue:
            name = queue[0][0]
            while queue and queue[0][0] == name:  # a class's messages stay back to back (one batch)
                stream.append(queue.pop(0))
    stream.extend(queue)
    return stream
