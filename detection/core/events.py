"""The event contract: validation at the edge of the core, deterministic ids, encoding.

An event on ``telemetry.events`` is one JSON object::

    {"source_id": "host-1", "metric": "cpu", "value": 0.5, "event_time": "2024-01-01T00:00:00.123Z"}

Rules (each rejection is an :class:`InvalidEvent` with a machine-readable ``reason``):

- a message without a value (a Kafka tombstone) is ``no_payload``; a payload that starts with a
  UTF-8 byte-order mark is ``bom`` (RFC 8259 forbids it on the wire, and ClickHouse's JSON
  functions would not read it: rejecting it keeps Python and the server's view in agreement).
- the payload is at most ``max_bytes`` bytes (``too_large``) and a JSON object (``not_json``,
  ``not_an_object``). Non-standard literals (``NaN``, ``Infinity``) and numbers that overflow a
  double (``1e400``) are not JSON for orjson; they are re-read with the stdlib parser only to
  give the precise reason ``not_finite``.
- ``source_id`` and ``metric``: strings, used verbatim (NOT stripped: the same bytes feed the
  event_id that ClickHouse computes). Empty or whitespace-only is ``empty_source_id`` /
  ``empty_metric``; longer than :data:`MAX_NAME_LENGTH` characters is ``too_long:<field>``;
  control characters (they include the ``\\x1f`` separator of the event_id) are
  ``bad_chars:<field>``; a non-string is ``not_a_string:<field>``.
- ``value``: a JSON number (int or float, not bool, not a string) -> ``not_a_number``;
  missing or ``null`` -> ``missing_field:value``; NaN or infinite -> ``not_finite``; beyond
  ``±MAX_ABS_VALUE`` (1e150) -> ``out_of_range`` (squared deviations of such values overflow a
  double, which would turn the rolling variance into inf/NaN).
- ``event_time``: an ISO-8601 string WITH an offset (``Z``/``z``, ``+hh:mm``, ``+hhmm`` or
  ``+hh``), in any form ``datetime.fromisoformat`` reads; other strings are
  ``bad_event_time``, naive timestamps ``naive_event_time``. It is normalised to UTC epoch
  milliseconds by TRUNCATION towards the past (floor): ``.1239`` -> 123 ms, as ClickHouse's
  ``DateTime64(3)`` does when it parses extra digits. It must lie in
  [:data:`MIN_EVENT_TIME_MS`, :data:`MAX_EVENT_TIME_MS`), i.e. 1970-01-01T00:00:00Z up to (not
  including) 2100-01-01T00:00:00Z, else ``event_time_out_of_range``: every store holds that
  range (``DateTime64(3)`` holds 1900-2299, but status versions are unsigned epoch ms, so
  nothing before 1970). If ``now_ms`` is given, an event_time
  later than ``now_ms + max_future_skew_ms`` is ``future_event_time`` (such an event must never
  reach the detector: it would push the key's watermark forward and make every later event
  late).
- unknown extra fields are ignored.

``event_id`` is a deterministic unsigned 64-bit hash (XXH3-64) of (source_id, metric, value,
event_time_ms) that ClickHouse can compute with the same formula (see :func:`event_id_for`).

>>> e = parse_event(b'{"source_id":"s1","metric":"cpu","value":1.5,"event_time":"2024-01-01T00:00:00.123Z"}',
...                 now_ms=None, max_future_skew_ms=0)
>>> e.event_time_ms, ms_to_iso(e.event_time_ms)
(1704067200123, '2024-01-01T00:00:00.123Z')
>>> parse_event(b'{"source_id":"s1","metric":"cpu","value":"1.5","event_time":"2024-01-01T00:00:00Z"}',
...             now_ms=None, max_future_skew_ms=0)
Traceback (most recent call last):
...
detection.core.events.InvalidEvent: not_a_number: value must be a JSON number, got str
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import math
import struct
from typing import Annotated, NamedTuple

import msgspec
import orjson
import xxhash

__all__ = [
    "MAX_ABS_VALUE",
    "MAX_EVENT_TIME_MS",
    "MIN_EVENT_TIME_MS",
    "datetime_to_ms",
    "MAX_NAME_LENGTH",
    "Event",
    "InvalidEvent",
    "encode_event",
    "event_id_for",
    "iso_to_ms",
    "kafka_key",
    "make_event",
    "ms_to_iso",
    "parse_event",
]

MAX_NAME_LENGTH = 256
"""Longest accepted source_id / metric, in characters."""

MAX_ABS_VALUE = 1e150
"""Largest accepted ``abs(value)``: squares (and sums of them) stay finite doubles."""

DEFAULT_MAX_BYTES = 65536

MIN_EVENT_TIME_MS = 0
"""Earliest accepted event time: 1970-01-01T00:00:00Z (status versions are unsigned epoch ms)."""

MAX_EVENT_TIME_MS = 4_102_444_800_000
"""First event time NOT accepted: 2100-01-01T00:00:00Z (well inside DateTime64(3)'s range)."""

_BOM = b"\xef\xbb\xbf"

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_ONE_MS = _dt.timedelta(milliseconds=1)
_pack_double = struct.Struct("<d").pack
_xxh3 = xxhash.xxh3_64_intdigest
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_new_event = tuple.__new__


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """What producers send, as the fast path decodes it: exactly the four fields, typed, with
    the length and range rules msgspec checks in C. Anything else (another shape or type, an
    extra field, a value out of range) fails here and goes to the general path, which finds
    the reason; so msgspec only ever accepts a subset of what orjson would (the tests check
    that both read every number the same way)."""

    source_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
    metric: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
    value: Annotated[float, msgspec.Meta(ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
    event_time: Annotated[str, msgspec.Meta(min_length=24, max_length=24)]


_known_names: set[str] = set()
"""Names that passed the printable / not-blank checks (:func:`_learn_names`): a set lookup
instead of two str scans per name and event. Bounded (at most ~30 MB even at the 256-character
limit): past the limit, new names are checked each time."""
_KNOWN_NAMES_MAX = 100_000

_decode_wire = msgspec.json.Decoder(_Wire).decode
_isfinite = math.isfinite
_fromisoformat = _dt.datetime.fromisoformat
_timegm = calendar.timegm


class InvalidEvent(ValueError):
    """A message that is not a valid event.

    ``reason`` is a short machine-readable code (``not_json``, ``missing_field:value``, ...)
    suitable for a dead-letter header or a metric label; ``str(exc)`` is ``"<reason>: <message>"``.

    >>> err = InvalidEvent("not_finite", "value must be finite")
    >>> err.reason, str(err)
    ('not_finite', 'not_finite: value must be finite')
    """

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.message = message or reason
        super().__init__(f"{reason}: {self.message}")

    def __reduce__(self):  # keep picklable with both arguments
        return (type(self), (self.reason, self.message))


class Event(NamedTuple):
    """One validated telemetry event. ``event_time_ms`` is UTC epoch milliseconds."""

    source_id: str
    metric: str
    value: float
    event_time_ms: int
    event_id: int


def event_id_for(source_id: str, metric: str, value: float, event_time_ms: int) -> int:
    """Deterministic unsigned 64-bit id of an event's content: XXH3-64 (seed 0) of its fields.

    Equal to the ClickHouse expression::

        xxh3(concat(source_id, '\\x1f', metric, '\\x1f', lower(hex(toFloat64(value))), '\\x1f',
                    toString(toInt64(event_time_ms))))

    (``hex`` of a Float64 is its 8 little-endian bytes in hex). Ids before version 0.2 were the
    first 8 bytes of an MD5 of the same fields (upper-case hex); see the README ("Event ids")
    for what the change means for data already stored.

    >>> event_id_for("s1", "cpu", 1.5, 1704067200123)
    16970674314442322719
    """
    return _xxh3(f"{source_id}\x1f{metric}\x1f{_pack_double(value).hex()}\x1f{int(event_time_ms)}".encode())


def make_event(source_id: str, metric: str, value: float, event_time_ms: int) -> Event:
    """Build an :class:`Event` (with its ``event_id``) from already valid parts.

    No validation: use :func:`parse_event` for untrusted input.
    """
    value = float(value)
    event_time_ms = int(event_time_ms)
    return Event(
        source_id, metric, value, event_time_ms, event_id_for(source_id, metric, value, event_time_ms)
    )


def kafka_key(source_id: str, metric: str) -> bytes:
    """The Kafka message key: every event of one (source_id, metric) goes to one partition.

    >>> kafka_key("host-1", "cpu")
    b'host-1|cpu'
    """
    return f"{source_id}|{metric}".encode()


def ms_to_iso(ms: int) -> str:
    """UTC epoch milliseconds -> ISO-8601 with millisecond precision and a ``Z`` suffix.

    >>> ms_to_iso(1704067200123)
    '2024-01-01T00:00:00.123Z'
    >>> ms_to_iso(-1)
    '1969-12-31T23:59:59.999Z'
    """
    return (_EPOCH_NAIVE + _dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def datetime_to_ms(value: _dt.datetime) -> int:
    """An aware datetime -> UTC epoch milliseconds, floored like event times (exact integer
    arithmetic, no float rounding). The one conversion the project uses.

    >>> datetime_to_ms(_dt.datetime(2024, 1, 1, 0, 0, 0, 123999, tzinfo=_UTC))
    1704067200123
    >>> datetime_to_ms(_dt.datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=_UTC))
    -1
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {value!r}")
    # timegm + microseconds rather than (value - epoch) // 1 ms: Airflow hands in pendulum
    # DateTimes, whose differences do not support // timedelta.
    return _timegm(value.utctimetuple()) * 1000 + value.microsecond // 1000


def iso_to_ms(text: str, *, assume_utc: bool = False) -> int:
    """ISO-8601 with an offset -> UTC epoch milliseconds, truncated (floored) to the millisecond.

    A naive timestamp raises ``InvalidEvent("naive_event_time")`` unless ``assume_utc`` is set
    (for histories exported without an offset, such as the NAB series).

    The canonical form producers send, ``YYYY-MM-DDTHH:MM:SS.fffZ``, takes a fast path: the
    epoch milliseconds of its second (``YYYY-MM-DDTHH:MM:SS.``) come from a bounded cache that
    only the general parser fills, and the ``fff`` is looked up in a table of the 1,000 valid
    three-digit strings. A cached prefix is one the general parser accepted, so both paths
    accept the same strings and return the same number.

    >>> iso_to_ms("2024-01-01T02:00:00.1239+02:00")
    1704067200123
    >>> iso_to_ms("2013-07-04 00:00:00", assume_utc=True)
    1372896000000
    """
    if type(text) is str and len(text) == 24 and text[23] == "Z":
        second = _second_ms.get(text[:20])
        if second is not None:
            millis = _MILLIS.get(text[20:23])
            if millis is not None:
                return second[0] + millis
    ms = _iso_to_ms(text, assume_utc)
    if (
        len(text) == 24 and text[23] == "Z" and text[19] == "." and text[16] == ":" and text[13] == ":"
        and text[10] == "T" and text[7] == "-" and text[4] == "-" and text[20:23] in _MILLIS
    ):
        second_ms = ms - _MILLIS[text[20:23]]
        # Only seconds inside the accepted range, and after the epoch's first second (whose
        # milliseconds have fewer than 4 digits): see _second_ms.
        if 1000 <= second_ms < MAX_EVENT_TIME_MS:
            if len(_second_ms) >= _SECOND_CACHE_SIZE:
                _second_ms.clear()
            _second_ms[text[:20]] = (second_ms, str(second_ms // 1000))
    return ms


_MILLIS = {f"{n:03d}": n for n in range(1000)}
"""The ``fff`` of a canonical timestamp -> its milliseconds (also checks they are 3 ASCII digits)."""
_SECOND_CACHE_SIZE = 8192
_second_ms: dict[str, tuple[int, str]] = {}
"""Canonical ``YYYY-MM-DDTHH:MM:SS.`` prefixes the general parser accepted (bounded) -> the epoch
ms of that second and its epoch seconds in decimal. Only seconds in ``[1 s, MAX_EVENT_TIME_MS)``
are cached, so a hit is in range, and ``seconds + fff`` is the decimal epoch ms (the event_id's
last field) without converting an int to text."""


def _iso_to_ms(text: str, assume_utc: bool) -> int:
    """The general parser behind :func:`iso_to_ms` (``datetime.fromisoformat``)."""
    if type(text) is not str:
        raise InvalidEvent("bad_event_time", f"event_time must be a string, got {type(text).__name__}")
    if text[-1:] == "z":  # RFC 3339 allows a lower-case zulu suffix
        text = text[:-1] + "Z"
    try:
        moment = _fromisoformat(text)
    except ValueError:
        raise InvalidEvent("bad_event_time", f"event_time is not ISO-8601: {text[:64]!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        if not assume_utc:
            raise InvalidEvent(
                "naive_event_time", f"event_time has no UTC offset (add Z or +hh:mm): {text[:64]!r}"
            )
        moment = moment.replace(tzinfo=_UTC)
    try:
        return (moment - _EPOCH) // _ONE_MS
    except OverflowError:  # pragma: no cover - datetime range is narrower than int64 ms
        raise InvalidEvent("bad_event_time", f"event_time out of range: {text[:64]!r}") from None


def _name(fields: dict, field: str, empty_reason: str) -> str:
    value = fields.get(field)
    if value is None:
        raise InvalidEvent(f"missing_field:{field}", f"{field} is required")
    if type(value) is not str:
        raise InvalidEvent(f"not_a_string:{field}", f"{field} must be a string, got {type(value).__name__}")
    if not value or value.isspace():
        raise InvalidEvent(empty_reason, f"{field} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidEvent(f"too_long:{field}", f"{field} is longer than {MAX_NAME_LENGTH} characters")
    if not value.isprintable():
        raise InvalidEvent(f"bad_chars:{field}", f"{field} contains control characters")
    return value


def _decode(raw: bytes | bytearray | memoryview | str | None, max_bytes: int) -> object:
    if raw is None:
        raise InvalidEvent("no_payload", "message has no value (a tombstone)")
    if isinstance(raw, str):
        size = len(raw.encode("utf-8", "surrogatepass"))
        bom = raw[:1] == "\ufeff"
    else:
        size = len(raw)
        bom = bytes(raw[:3]) == _BOM
    if size > max_bytes:
        raise InvalidEvent("too_large", f"payload is {size} bytes, limit {max_bytes}")
    if bom:
        raise InvalidEvent("bom", "payload starts with a UTF-8 byte-order mark (not allowed in JSON on the wire)")
    try:
        return _loads(raw)
    except _JSONDecodeError:
        pass
    # orjson refuses NaN/Infinity literals and numbers that overflow a double. The stdlib parser
    # accepts them (as nan/inf), which lets the caller report "not_finite" instead of "not_json".
    # It is given text decoded as strict UTF-8: handed bytes, it would guess UTF-16/UTF-32 and
    # accept payloads that are not UTF-8 JSON (which ClickHouse's view rejects).
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise InvalidEvent("not_json", "payload is not valid JSON") from None


def parse_event(
    raw: bytes | bytearray | memoryview | str | dict,
    *,
    now_ms: int | None,
    max_future_skew_ms: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    assume_utc: bool = False,
) -> Event:
    """Validate one message and return an :class:`Event`; raise :class:`InvalidEvent` otherwise.

    ``raw`` is the JSON payload (bytes or str) or an already decoded mapping. ``now_ms`` is the
    caller's wall clock (the core never reads a clock); ``None`` disables the future check
    (offline replay of history). ``assume_utc`` accepts naive timestamps as UTC (off by default:
    the contract requires an offset).

    Hot path (a few hundred thousand calls a second): what producers send (bytes holding exactly
    the four fields, decoded and typed by msgspec into :class:`_Wire`; names seen before; the
    canonical event time of a second already seen) is returned at once; anything else, valid or
    not, goes through :func:`_parse_general` (orjson), which finds the reason. The fast path
    accepts a subset of what the general path accepts, with the same result.
    """
    global _recent
    if type(raw) is bytes and len(raw) <= max_bytes:
        try:
            wire = _decode_wire(raw)
        except msgspec.DecodeError:  # also ValidationError: another shape, type or extra field
            pass
        else:
            source_id = wire.source_id
            metric = wire.metric
            value = wire.value
            event_time = wire.event_time
            if event_time[23] == "Z" and (
                (source_id in _known_names and metric in _known_names) or _learn_names(source_id, metric)
            ):
                recent = _recent
                if event_time.startswith(recent[0]):  # the second of the previous event
                    second = recent[1]
                else:
                    prefix = event_time[:20]
                    second = _second_ms.get(prefix)
                    if second is not None:
                        _recent = (prefix, second)  # one assignment: consistent across threads
                if second is not None:
                    millis_text = event_time[20:23]
                    millis = _MILLIS.get(millis_text)
                    if millis is not None:
                        # A cached second is in range (see _second_ms), so the time is too.
                        second_ms, seconds_text = second
                        event_time_ms = second_ms + millis
                        if now_ms is None or event_time_ms <= now_ms + max_future_skew_ms:
                            # event_id_for, inlined; seconds_text + millis_text == str(event_time_ms)
                            return _new_event(Event, (source_id, metric, value, event_time_ms, _xxh3(
                                f"{source_id}\x1f{metric}\x1f{_pack_double(value).hex()}\x1f{seconds_text}{millis_text}"
                                .encode()
                            )))
    return _parse_general(raw, now_ms, max_future_skew_ms, max_bytes, assume_utc)


def _printable_not_blank(name: str) -> bool:
    """The name rule beyond type and length (:func:`_name` finds which part a bad name breaks)."""
    return name.isprintable() and not name.isspace()


def _learn_names(source_id: str, metric: str) -> bool:
    """Whether both names keep the name rule (their type and length already checked); remembers them."""
    if _printable_not_blank(source_id) and _printable_not_blank(metric):
        if len(_known_names) < _KNOWN_NAMES_MAX:
            _known_names.add(source_id)
            _known_names.add(metric)
        return True
    return False


_recent: tuple[str, tuple[int, str]] = ("-" * 25, (0, ""))  # longer than any time: matches none
"""The last ``_second_ms`` entry the fast path used (consecutive events mostly share a second)."""


def _parse_general(
    raw: bytes | bytearray | memoryview | str | dict | None,
    now_ms: int | None,
    max_future_skew_ms: int,
    max_bytes: int,
    assume_utc: bool,
) -> Event:
    """:func:`parse_event` for any input: decode, then :func:`_parse_fields`."""
    if type(raw) is bytes and len(raw) <= max_bytes:
        try:
            fields = _loads(raw)
        except _JSONDecodeError:
            fields = _decode(raw, max_bytes)
    else:
        fields = raw if isinstance(raw, dict) else _decode(raw, max_bytes)
    return _parse_fields(fields, now_ms, max_future_skew_ms, assume_utc)


def _parse_fields(fields: object, now_ms: int | None, max_future_skew_ms: int, assume_utc: bool) -> Event:
    """Validate decoded JSON: each field with one combined test valid input passes; only when
    it fails does the slower code find the reason."""
    if type(fields) is not dict:
        raise InvalidEvent("not_an_object", f"payload must be a JSON object, got {type(fields).__name__}")
    source_id = fields.get("source_id")
    if not (type(source_id) is str and 0 < len(source_id) <= MAX_NAME_LENGTH and _printable_not_blank(source_id)):
        source_id = _name(fields, "source_id", "empty_source_id")
    metric = fields.get("metric")
    if not (type(metric) is str and 0 < len(metric) <= MAX_NAME_LENGTH and _printable_not_blank(metric)):
        metric = _name(fields, "metric", "empty_metric")

    value = fields.get("value")
    kind = type(value)
    if kind is float:
        pass
    elif kind is int:
        try:
            value = float(value)
        except OverflowError:
            raise InvalidEvent("not_finite", "value does not fit a double") from None
    elif value is None:
        raise InvalidEvent("missing_field:value", "value is required")
    else:
        raise InvalidEvent("not_a_number", f"value must be a JSON number, got {kind.__name__}")
    if not -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:  # also false for NaN
        if not _isfinite(value):
            raise InvalidEvent("not_finite", f"value must be finite, got {value!r}")
        raise InvalidEvent("out_of_range", f"abs(value) must be <= {MAX_ABS_VALUE:g}, got {value!r}")

    event_time = fields.get("event_time")
    if event_time is None:
        raise InvalidEvent("missing_field:event_time", "event_time is required")
    event_time_ms = iso_to_ms(event_time, assume_utc=assume_utc)
    if not MIN_EVENT_TIME_MS <= event_time_ms < MAX_EVENT_TIME_MS:
        raise InvalidEvent(
            "event_time_out_of_range",
            f"event_time {event_time[:64]!r} is outside [1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z)",
        )
    if now_ms is not None and event_time_ms > now_ms + max_future_skew_ms:
        raise InvalidEvent(
            "future_event_time",
            f"event_time {ms_to_iso(event_time_ms)} is more than {max_future_skew_ms} ms "
            f"ahead of now {ms_to_iso(now_ms)}",
        )
    return _new_event(Event, (source_id, metric, value, event_time_ms, event_id_for(source_id, metric, value, event_time_ms)))


def encode_event(source_id: str, metric: str, value: float, event_time_ms: int) -> bytes:
    """The JSON payload a producer sends (``event_time`` as ISO-8601 UTC, ms precision).

    >>> encode_event("s1", "cpu", 1.5, 1704067200123)
    b'{"source_id":"s1","metric":"cpu","value":1.5,"event_time":"2024-01-01T00:00:00.123Z"}'
    """
    return orjson.dumps(
        {"source_id": source_id, "metric": metric, "value": float(value), "event_time": ms_to_iso(event_time_ms)}
    )
