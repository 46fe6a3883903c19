"""Event validation: every malformed class maps to its reason; ids, encoding, time helpers."""

from __future__ import annotations

import pickle
import struct

import orjson
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from detection.core.events import (
    MAX_EVENT_TIME_MS,
    MAX_NAME_LENGTH,
    MIN_EVENT_TIME_MS,
    Event,
    InvalidEvent,
    encode_event,
    event_id_for,
    iso_to_ms,
    kafka_key,
    make_event,
    ms_to_iso,
    parse_event,
)

NOW_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SKEW_MS = 60_000
GOOD = {"source_id": "host-1", "metric": "cpu", "value": 0.5, "event_time": "2024-01-01T00:00:00.123Z"}


def parse(raw, **kwargs):
    kwargs.setdefault("now_ms", NOW_MS)
    kwargs.setdefault("max_future_skew_ms", SKEW_MS)
    return parse_event(raw, **kwargs)


def with_(**changes):
    fields = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            fields.pop(key)
        else:
            fields[key] = value
    return orjson.dumps(fields)


def test_valid_event_parses_from_bytes_str_and_dict_alike():
    raw = orjson.dumps(GOOD)
    expected = Event("host-1", "cpu", 0.5, NOW_MS + 123, event_id_for("host-1", "cpu", 0.5, NOW_MS + 123))
    assert parse(raw) == expected
    assert parse(raw.decode()) == expected
    assert parse(dict(GOOD)) == expected
    assert parse(bytearray(raw)) == expected


def test_integer_value_becomes_float_and_unknown_fields_are_ignored():
    event = parse(with_(value=7, extra={"nested": True}))
    assert event.value == 7.0 and type(event.value) is float


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not_json"),
        (b"hello", "not_json"),
        (b"", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (with_(source_id=...), "missing_field:source_id"),
        (with_(metric=...), "missing_field:metric"),
        (with_(value=...), "missing_field:value"),
        (with_(value=None), "missing_field:value"),
        (with_(event_time=...), "missing_field:event_time"),
        (b'{"source_id":"a","metric":"b","value":NaN,"event_time":"2024-01-01T00:00:00Z"}', "not_finite"),
        (b'{"source_id":"a","metric":"b","value":Infinity,"event_time":"2024-01-01T00:00:00Z"}', "not_finite"),
        (b'{"source_id":"a","metric":"b","value":-Infinity,"event_time":"2024-01-01T00:00:00Z"}', "not_finite"),
        (b'{"source_id":"a","metric":"b","value":1e400,"event_time":"2024-01-01T00:00:00Z"}', "not_finite"),
        (b'{"source_id":"a","metric":"b","value":' + b"9" * 400 + b',"event_time":"2024-01-01T00:00:00Z"}', "not_finite"),
        (with_(value=1e200), "out_of_range"),
        (with_(value=True), "not_a_number"),
        (with_(value=False), "not_a_number"),
        (with_(value="1.5"), "not_a_number"),
        (with_(value=[1.5]), "not_a_number"),
        (with_(value={"v": 1}), "not_a_number"),
        (with_(event_time="2024-01-01T00:00:00"), "naive_event_time"),
        (with_(event_time="2024-01-01 00:00:00.123"), "naive_event_time"),
        (with_(event_time="2024-01-01"), "naive_event_time"),
        (with_(event_time="yesterday"), "bad_event_time"),
        (with_(event_time="2024-13-01T00:00:00Z"), "bad_event_time"),
        (with_(event_time=1704067200000), "bad_event_time"),
        (with_(event_time="2024-01-01T00:01:00.001Z"), "future_event_time"),
        (with_(source_id=""), "empty_source_id"),
        (with_(source_id="   "), "empty_source_id"),
        (with_(metric=""), "empty_metric"),
        (with_(metric="\t"), "empty_metric"),
        (with_(source_id=42), "not_a_string:source_id"),
        (with_(metric=None), "missing_field:metric"),
        (with_(source_id="x" * (MAX_NAME_LENGTH + 1)), "too_long:source_id"),
        (with_(metric="cpu\x1fload"), "bad_chars:metric"),
        (with_(source_id="host\n1"), "bad_chars:source_id"),
        (with_(extra="x" * 70_000), "too_large"),
        (b"\xef\xbb\xbf" + with_(), "bom"),
        ("\ufeff" + with_().decode(), "bom"),
        (with_(event_time="1969-12-31T23:59:59.999Z"), "event_time_out_of_range"),
        (with_(event_time="2100-01-01T00:00:00.000Z"), "event_time_out_of_range"),
        (with_(event_time="2024-01-01T00:00:60.000Z"), "bad_event_time"),
        (with_(event_time="2024-01-01T00:00:00.12xZ"), "bad_event_time"),
        (with_(event_time="2024-01-01T00:00:00.\u0661\u0662\u0663Z"), "bad_event_time"),
    ],
)
def test_malformed_event_is_rejected_with_its_reason(raw, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse(raw)
    assert caught.value.reason == reason
    assert str(caught.value).startswith(reason + ": ")


def test_oversize_str_payload_is_too_large_and_limit_is_configurable():
    with pytest.raises(InvalidEvent, match="too_large"):
        parse(with_().decode(), max_bytes=50)
    assert parse(with_(), max_bytes=200).metric == "cpu"


def test_future_skew_bound_is_inclusive_and_no_now_disables_it():
    at_bound = with_(event_time=ms_to_iso(NOW_MS + SKEW_MS))
    assert parse(at_bound).event_time_ms == NOW_MS + SKEW_MS
    far = with_(event_time="2099-12-31T23:59:59.999Z")
    assert parse(far, now_ms=None).event_time_ms > NOW_MS


@pytest.mark.parametrize("event_time", [
    "1969-12-31T23:59:59.999Z",  # before the epoch: status versions are unsigned
    "1900-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2100-01-01T00:00:00Z",  # the first instant not accepted
    "9999-12-31T23:59:59Z",
])
def test_event_time_outside_what_every_store_holds_is_rejected(event_time):
    with pytest.raises(InvalidEvent) as err:
        parse(with_(event_time=event_time), now_ms=None)
    assert err.value.reason == "event_time_out_of_range"


def test_event_time_range_bounds():
    assert parse(with_(event_time="1970-01-01T00:00:00Z"), now_ms=None).event_time_ms == MIN_EVENT_TIME_MS == 0
    assert parse(with_(event_time="2099-12-31T23:59:59.999Z"), now_ms=None).event_time_ms == MAX_EVENT_TIME_MS - 1


def test_a_tombstone_is_rejected_not_a_crash():
    with pytest.raises(InvalidEvent) as err:
        parse_event(None, now_ms=NOW_MS, max_future_skew_ms=SKEW_MS)
    assert err.value.reason == "no_payload"


@pytest.mark.parametrize("payload", [
    b"\xef\xbb\xbf" + orjson.dumps(GOOD),
    "\ufeff" + orjson.dumps(GOOD).decode(),
    bytearray(b"\xef\xbb\xbf" + orjson.dumps(GOOD)),
])
def test_a_byte_order_mark_is_rejected(payload):
    with pytest.raises(InvalidEvent) as err:
        parse_event(payload, now_ms=NOW_MS, max_future_skew_ms=SKEW_MS)
    assert err.value.reason == "bom"


def test_assume_utc_accepts_naive_timestamps_as_utc():
    event = parse(with_(event_time="2024-01-01T00:00:00.5"), assume_utc=True)
    assert event.event_time_ms == NOW_MS + 500


def test_names_are_used_verbatim_not_stripped():
    event = parse(with_(source_id=" host-1 ", metric="cpü"))
    assert (event.source_id, event.metric) == (" host-1 ", "cpü")


def test_event_time_offsets_are_normalised_and_truncated_to_the_millisecond():
    assert iso_to_ms("2024-01-01T02:00:00.1239+02:00") == NOW_MS + 123
    assert iso_to_ms("2023-12-31T19:00:00-05:00") == NOW_MS
    assert iso_to_ms("2024-01-01T00:00:00.999999999Z") == NOW_MS + 999
    assert iso_to_ms("1969-12-31T23:59:59.9999Z") == -1  # floor, not towards zero
    assert iso_to_ms("20240101T000000Z") == NOW_MS
    assert iso_to_ms("2024-01-01T00:00:00z") == NOW_MS
    assert iso_to_ms("2024-01-01T01:00:00+01") == NOW_MS


def test_event_id_is_the_documented_xxh3_formula_and_matches_clickhouse():
    value, t = 1.5, NOW_MS + 123
    payload = f"s1\x1fcpu\x1f{struct.pack('<d', value).hex()}\x1f{t}".encode()
    assert event_id_for("s1", "cpu", value, t) == xxhash.xxh3_64_intdigest(payload)
    # Computed by chDB 4.4 (engine 26.9) with the SQL expression in event_id_for's docstring.
    assert event_id_for("s1", "cpu", 1.5, 1704067200123) == 16970674314442322719


def test_parsed_event_id_is_event_id_for():
    event = parse(with_(value=-0.0, event_time="2024-01-01T00:00:00.5+00:00"))
    assert event.event_id == event_id_for("host-1", "cpu", -0.0, NOW_MS + 500)


@given(st.integers(MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS - 1), st.integers(0, 999))
def test_canonical_fast_path_and_general_parser_agree(ms, other_ms):
    """The per-second cache is filled by the general parser; cached or not, the same result."""
    text = ms_to_iso(ms)
    assert iso_to_ms(text) == ms == iso_to_ms(text)  # first call may fill the cache, second hits it
    sibling = text[:20] + f"{other_ms:03d}Z"  # same second, other milliseconds: a cache hit
    assert iso_to_ms(sibling) == ms - ms % 1000 + other_ms
    for bad in (text[:20] + "1x3Z", text[:20] + "-12Z", text[:20] + " 12Z", text[:20] + "+12Z"):
        with pytest.raises(InvalidEvent) as caught:
            iso_to_ms(bad)
        assert caught.value.reason == "bad_event_time"


def test_event_id_depends_on_every_field_including_the_sign_of_zero():
    base = event_id_for("a", "b", 0.0, 1)
    assert 0 <= base < 2**64
    assert len({base, event_id_for("a", "b", -0.0, 1), event_id_for("a", "b", 0.0, 2),
                event_id_for("a", "c", 0.0, 1), event_id_for("b", "b", 0.0, 1)}) == 5
    # The separator keeps field boundaries: ("ab", "c") and ("a", "bc") differ.
    assert event_id_for("ab", "c", 1.0, 1) != event_id_for("a", "bc", 1.0, 1)


names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs", "Cf", "Co", "Cn")), min_size=1, max_size=40)


@given(
    source_id=names,
    metric=names,
    value=st.floats(min_value=-1e150, max_value=1e150, allow_nan=False),
    event_time_ms=st.integers(MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS - 1),
)
def test_encoded_event_parses_back_to_the_same_event_and_id(source_id, metric, value, event_time_ms):
    event = parse(encode_event(source_id, metric, value, event_time_ms), now_ms=None)
    assert event == make_event(source_id, metric, value, event_time_ms)
    assert event.event_id == event_id_for(source_id, metric, value, event_time_ms)


@given(st.integers(-(10**13), 10**13))
def test_ms_iso_round_trip(ms):
    text = ms_to_iso(ms)
    assert text.endswith("Z") and len(text) == 24
    assert iso_to_ms(text) == ms


def test_kafka_key_groups_source_and_metric():
    assert kafka_key("host-1", "cpu") == b"host-1|cpu"


def test_invalid_event_is_a_value_error_and_pickles():
    err = InvalidEvent("not_finite", "value must be finite")
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.message) == ("not_finite", "value must be finite")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_json_in_another_encoding_than_utf8_is_not_json(encoding):
    payload = orjson.dumps(GOOD).decode().encode(encoding)
    with pytest.raises(InvalidEvent) as err:
        parse(payload)
    assert err.value.reason == "not_json"


def test_a_non_finite_literal_is_still_reported_as_such():
    with pytest.raises(InvalidEvent) as err:
        parse(b'{"source_id": "a", "metric": "m", "value": NaN, "event_time": "2024-01-01T00:00:00Z"}')
    assert err.value.reason == "not_finite"


def _outcome(raw: bytes):
    """parse_event's result, and the general (orjson) path's, each as an Event or a reason."""
    from detection.core.events import DEFAULT_MAX_BYTES, _parse_general

    results = []
    for call in (lambda: parse(raw), lambda: _parse_general(raw, NOW_MS, SKEW_MS, DEFAULT_MAX_BYTES, False)):
        try:
            results.append(call())
        except InvalidEvent as exc:
            results.append(exc.reason)
    return results


_TEMPLATE = '{"source_id":"s1","metric":"cpu","value":%s,"event_time":"2024-01-01T00:00:00.123Z"}'
number_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?\Z"),
)


@given(number_texts)
def test_fast_path_and_general_path_read_every_number_alike(text):
    """The fast path decodes with msgspec, the general path with orjson: the same double (or the
    same rejection) for any JSON number, including long mantissas, subnormals and overflow."""
    fast, general = _outcome((_TEMPLATE % text).encode())
    assert fast == general


@pytest.mark.parametrize(
    "raw",
    [
        with_(value=1),  # an int value
        with_(value=True),
        with_(value=None),
        with_(value="0.5"),
        with_(extra={"nested": [1, 2, {"a": None}]}),  # unknown fields: msgspec refuses, orjson reads
        with_(source_id="   "),
        with_(source_id=""),
        with_(metric="a\x1fb"),
        with_(metric="x" * (MAX_NAME_LENGTH + 1)),
        with_(event_time="2024-01-01T00:00:00.123+00:00"),
        with_(event_time="2024-01-01T00:00:00.12Z"),
        with_(event_time=12),
        b'{"source_id":"a","metric":"cpu","value":0.5,"event_time":"2024-01-01T00:00:00.123Z","source_id":"b"}',
        b'{"source_id":"\\ud800","metric":"cpu","value":0.5,"event_time":"2024-01-01T00:00:00.123Z"}',
        b'{"source_id":"\xff","metric":"cpu","value":0.5,"event_time":"2024-01-01T00:00:00.123Z"}',
        b'\xef\xbb\xbf' + with_(),
        b' \n' + with_() + b' \t',
        with_() + b"x",
        b'{"source_id":"a","metric":"cpu","value":NaN,"event_time":"2024-01-01T00:00:00.123Z"}',
        b"[1, 2]",
        b"",
    ],
)
def test_fast_path_gives_what_the_general_path_gives(raw):
    fast, general = _outcome(raw)
    assert fast == general
