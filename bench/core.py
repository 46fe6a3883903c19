"""Benchmark of the pure detection core: ``python -m bench.core [--events N] [--keys K ...]``.

Feeds pre-built :class:`~detection.core.events.Event` objects (validation excluded) through
:meth:`KeyedDetector.update` on one core, and the same pre-generated stream through river's
``utils.TimeRolling(stats.Var, period=...)`` (one per key, ``update`` + ``get`` per event) for
comparison. The stream: per key one event per second, 1 % of events out of order (up to 2 s
behind, inside the 5 s lateness), 0.1 % re-sent copies of one of the
3 previous messages, every 10th key shifted by 4 sigma
for the middle fifth of the stream; window 60 s, min_samples 10.

Each measurement is repeated (``--repeat``, default 3; ours and river's alternate, each run on a
fresh detector / fresh river state) and the best run is reported, as ``timeit`` does: the
machine is shared, and the best run is the one least disturbed by other processes. The paired
ratios of each repetition are reported too.

The decoder (:func:`~detection.core.events.parse_event`: JSON, validation, event time, event_id)
is measured alone on the first ``--decode-events`` (default 200,000) events of the 10k-key stream,
encoded as producers send them: ``decode_us_per_event`` and ``decode_events_per_s`` (best run),
next to the decoder of version 0.1 (:func:`reference_parse_event`, MD5 ids and fromisoformat) on
the same payloads, alternating: ``decode_speedup_vs_v0_1`` (best vs best) and its median paired
ratio.

Both methods run on the same stream: ``zscore`` (the seed rule, the figures without a prefix)
and ``cusum`` (``cusum_`` prefix; enter_hits 1, target 0.5 false alarms per 100k), with the
kernel in use (``cusum_kernel``: ``compiled`` after ``make native``, else ``python``); and cusum
once more with the pure-Python kernel forced (``cusum_python_kernel_`` prefix), the figure a
machine without a C compiler gets.

Prints progress lines, then, as its LAST line, one JSON object with ``events_per_s_1_key``,
``events_per_s_10k_keys``, ``cusum_events_per_s_10k_keys``, ``cusum_vs_zscore_10k_keys``, ``river_events_per_s_10k_keys``, ``ratio_vs_river_10k_keys`` and
``state_bytes_per_key`` (tracemalloc: memory retained by the detector after the stream is
released, divided by the key count; it includes everything the windows hold).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import math
import os
import platform
import statistics
import random
import struct
import sys
import time
import tracemalloc
from dataclasses import replace

import orjson

from detection.core import detector as detector_module
from detection.core import kernel
from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector
from detection.core.events import Event, encode_event, event_id_for, parse_event

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
INTERVAL_MS = 1_000
THRESHOLDS = Thresholds(
    window_seconds=60,
    min_samples=10,
    z_threshold=3.0,
    std_ratio_threshold=2.0,
    enter_hits=3,
    exit_hits=3,
    allowed_lateness_seconds=5,
    version=1,
)
# The same window with the cusum method (thresholds from a false-alarm rate; see detection.core.cusum).
CUSUM_THRESHOLDS = replace(THRESHOLDS, method="cusum", enter_hits=1, target_false_alarms_per_100k=0.5)
METHODS = {"zscore": THRESHOLDS, "cusum": CUSUM_THRESHOLDS}


def generate_stream(n_events: int, n_keys: int, seed: int = 7) -> tuple[list[Event], dict]:
    """A deterministic keyed stream and its per-key baselines."""
    rng = random.Random(seed)
    keys = [(f"source-{k:05d}", "metric") for k in range(n_keys)]
    params = [(rng.uniform(0.0, 1000.0), rng.uniform(1.0, 10.0)) for _ in range(n_keys)]
    baselines = {key: Baseline(mean=mu, std=sigma, count=10_000) for key, (mu, sigma) in zip(keys, params)}
    rounds = -(-n_events // n_keys)
    drift_from, drift_to = int(rounds * 0.4), int(rounds * 0.6)
    events: list[Event] = []
    gauss, random_ = rng.gauss, rng.random
    for i in range(n_events):
        k = i % n_keys
        r = i // n_keys
        if i > 3 and random_() < 0.001:
            events.append(events[-rng.randint(1, 3)])  # a re-sent copy of a recent message
            continue
        source_id, metric = keys[k]
        mu, sigma = params[k]
        if k % 10 == 0 and drift_from <= r < drift_to:
            mu += 4.0 * sigma
        t = BASE_MS + r * INTERVAL_MS
        if random_() < 0.01:
            t -= rng.randrange(1, 2_000)  # out of order, inside the lateness
        x = gauss(mu, sigma)
        event = Event(source_id, metric, x, t, event_id_for(source_id, metric, x, t))
        events.append(event)
    return events, baselines


def run_detector(events: list[Event], baselines: dict, thresholds: Thresholds = THRESHOLDS,
                 cusum_state: type | None = None) -> tuple[float, KeyedDetector]:
    """Events per second of a fresh detector over ``events``; ``cusum_state`` forces a kernel
    (e.g. :class:`~detection.core.kernel.PyCusumState`) for this run."""
    in_use = detector_module.CusumState
    detector_module.CusumState = cusum_state or in_use
    try:
        detector = KeyedDetector(lambda s, m: thresholds, lambda s, m: baselines.get((s, m)))
        update = detector.update
        gc.collect()
        start = time.perf_counter()
        for event in events:
            update(event)
        elapsed = time.perf_counter() - start
    finally:
        detector_module.CusumState = in_use
    return len(events) / elapsed, detector


def reference_parse_event(raw: bytes, *, now_ms: int | None, max_future_skew_ms: int) -> Event:
    """The decoder of version 0.1, kept here only as the benchmark's fixed reference.

    The same steps, in the same helper calls, that a valid payload went through in 0.1 (orjson,
    one helper call per name, ``datetime.fromisoformat``, an MD5 event_id), so that
    ``decode_speedup_vs_v0_1`` is a paired ratio on the same machine and the same payloads.
    """
    fields = _reference_decode(raw, 65536)
    if type(fields) is not dict:
        raise ValueError("not_an_object")
    source_id = _reference_name(fields, "source_id")
    metric = _reference_name(fields, "metric")
    value = fields.get("value")
    if type(value) is int:
        value = float(value)
    elif type(value) is not float:
        raise ValueError("not_a_number")
    if not math.isfinite(value):
        raise ValueError("not_finite")
    if not -1e150 <= value <= 1e150:
        raise ValueError("out_of_range")
    event_time = fields.get("event_time")
    if event_time is None:
        raise ValueError("missing_field:event_time")
    event_time_ms = _reference_iso_to_ms(event_time, assume_utc=False)
    if now_ms is not None and event_time_ms > now_ms + max_future_skew_ms:
        raise ValueError("future_event_time")
    return Event(source_id, metric, value, event_time_ms, _reference_event_id(source_id, metric, value, event_time_ms))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MS = dt.timedelta(milliseconds=1)
_pack_double = struct.Struct("<d").pack


def _reference_decode(raw: bytes, max_bytes: int) -> object:
    size = len(raw) if not isinstance(raw, str) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ValueError("too_large")
    return orjson.loads(raw)


def _reference_name(fields: dict, field: str) -> str:
    value = fields.get(field)
    if value is None:
        raise ValueError(f"missing_field:{field}")
    if type(value) is not str:
        raise ValueError(f"not_a_string:{field}")
    if not value or value.isspace():
        raise ValueError(field)
    if len(value) > 256:
        raise ValueError(f"too_long:{field}")
    if not value.isprintable():
        raise ValueError(f"bad_chars:{field}")
    return value


def _reference_iso_to_ms(text: str, *, assume_utc: bool = False) -> int:
    if type(text) is not str:
        raise ValueError("bad_event_time")
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive_event_time")
    return (moment - _EPOCH) // _ONE_MS


def _reference_event_id(source_id: str, metric: str, value: float, event_time_ms: int) -> int:
    payload = f"{source_id}\x1f{metric}\x1f{_pack_double(value).hex().upper()}\x1f{int(event_time_ms)}"
    return int.from_bytes(hashlib.md5(payload.encode()).digest()[:8], "little")


def run_decoder(payloads: list[bytes], now_ms: int, parse=parse_event) -> float:
    """Seconds per event of ``parse`` (default ``parse_event``) over ``payloads`` (all valid)."""
    gc.collect()
    start = time.perf_counter()
    for raw in payloads:
        parse(raw, now_ms=now_ms, max_future_skew_ms=300_000)
    return (time.perf_counter() - start) / len(payloads)


def river_stream(events: list[Event]) -> list[tuple]:
    """The same events as river's TimeRolling wants them: (key, value, naive datetime)."""
    epoch = dt.datetime(1970, 1, 1)
    return [((e.source_id, e.metric), e.value, epoch + dt.timedelta(milliseconds=e.event_time_ms)) for e in events]


def run_river(stream: list[tuple]) -> float:
    from river import stats, utils  # dev-only dependency, imported here only

    period = dt.timedelta(seconds=THRESHOLDS.window_seconds)
    rolls: dict = {}
    get = rolls.get
    time_rolling, var = utils.TimeRolling, stats.Var
    gc.collect()
    start = time.perf_counter()
    for key, x, t in stream:
        roll = get(key)
        if roll is None:
            roll = rolls[key] = time_rolling(var, period=period)
        roll.update(x, t=t)
        roll.get()
    elapsed = time.perf_counter() - start
    return len(stream) / elapsed


def state_bytes_per_key(n_events: int, n_keys: int) -> tuple[float, float]:
    """Memory retained by a detector fed the stream, per key, and mean window entries per key."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    events, baselines = generate_stream(n_events, n_keys)
    detector = KeyedDetector(lambda s, m: THRESHOLDS, lambda s, m: baselines.get((s, m)))
    for event in events:
        detector.update(event)
    detector.drain_changed_statuses()
    del events, baselines, event
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    entries = sum(detector.status(*key).rolling_count for key in detector.keys()) / detector.key_count
    return retained / detector.key_count, entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per run (default 1,000,000)")
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 10_000], help="key counts to run (default 1 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, best reported (default 3)")
    parser.add_argument("--no-river", action="store_true", help="skip the river comparison")
    parser.add_argument("--decode-events", type=int, default=200_000, help="events for the decoder run (default 200,000)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1 or args.decode_events < 1 or any(k < 1 for k in args.keys):
        parser.error("--events, --decode-events, --repeat and --keys must be >= 1")

    def progress(message: str) -> None:
        print(message, flush=True)

    result: dict = {
        "events": args.events,
        "python": platform.python_version(),
        "window_seconds": THRESHOLDS.window_seconds,
        "cusum_kernel": "compiled" if kernel.NATIVE else "python",
    }
    progress(f"decoder: encoding {args.decode_events:,} events over 10,000 keys ...")
    events, _ = generate_stream(args.decode_events, 10_000)
    payloads = [encode_event(e.source_id, e.metric, e.value, e.event_time_ms) for e in events]
    now_ms = max(e.event_time_ms for e in events)
    decode_runs, reference_runs = [], []
    for run in range(1, args.repeat + 1):
        decode_runs.append(run_decoder(payloads, now_ms))
        reference_runs.append(run_decoder(payloads, now_ms, reference_parse_event))
        progress(f"[{run}/{args.repeat}] decoder: {decode_runs[-1] * 1e6:.3f} µs/event; "
                 f"v0.1 reference: {reference_runs[-1] * 1e6:.3f} µs/event")
    result["decode_us_per_event"] = round(min(decode_runs) * 1e6, 3)
    result["decode_events_per_s"] = round(1 / min(decode_runs))
    result["decode_v0_1_us_per_event"] = round(min(reference_runs) * 1e6, 3)
    result["decode_speedup_vs_v0_1"] = round(min(reference_runs) / min(decode_runs), 2)
    result["median_paired_decode_speedup_vs_v0_1"] = round(
        statistics.median(r / d for r, d in zip(reference_runs, decode_runs)), 2)
    del events, payloads
    for n_keys in args.keys:
        label = "10k_keys" if n_keys == 10_000 else ("1_key" if n_keys == 1 else f"{n_keys}_keys")
        progress(f"generating {args.events:,} events over {n_keys:,} keys ...")
        events, baselines = generate_stream(args.events, n_keys)
        stream = None if args.no_river else river_stream(events)
        ours, theirs, cusum, cusum_py = [], [], [], []
        for run in range(1, args.repeat + 1):
            rate, detector = run_detector(events, baselines)
            counters = detector.counters
            del detector
            ours.append(rate)
            progress(f"[{run}/{args.repeat}] detector (zscore) {label}: {rate:,.0f} events/s; counters {counters}")
            rate, detector = run_detector(events, baselines, CUSUM_THRESHOLDS)
            cusum_counters = detector.counters
            del detector
            cusum.append(rate)
            progress(f"[{run}/{args.repeat}] detector (cusum, {result['cusum_kernel']} kernel) {label}: "
                     f"{rate:,.0f} events/s; counters {cusum_counters}")
            rate, detector = run_detector(events, baselines, CUSUM_THRESHOLDS, kernel.PyCusumState)
            if detector.counters != cusum_counters:
                raise AssertionError(f"the two kernels disagree: {detector.counters} vs {cusum_counters}")
            del detector
            cusum_py.append(rate)
            progress(f"[{run}/{args.repeat}] detector (cusum, python kernel) {label}: {rate:,.0f} events/s")
            if stream is not None:
                river_rate = run_river(stream)
                theirs.append(river_rate)
                progress(f"[{run}/{args.repeat}] river TimeRolling(Var) {label}: {river_rate:,.0f} events/s")
        result[f"events_per_s_{label}"] = round(max(ours))
        result[f"transitions_{label}"] = counters["transitions"]
        result[f"cusum_events_per_s_{label}"] = round(max(cusum))
        result[f"cusum_transitions_{label}"] = cusum_counters["transitions"]
        result[f"cusum_vs_zscore_{label}"] = round(max(cusum) / max(ours), 2)
        result[f"paired_cusum_vs_zscore_{label}"] = [round(c / z, 2) for c, z in zip(cusum, ours)]
        result[f"cusum_python_kernel_events_per_s_{label}"] = round(max(cusum_py))
        result[f"cusum_python_kernel_vs_zscore_{label}"] = round(max(cusum_py) / max(ours), 2)
        if theirs:
            result[f"river_events_per_s_{label}"] = round(max(theirs))
            result[f"ratio_vs_river_{label}"] = round(max(ours) / max(theirs), 2)
            result[f"paired_ratios_vs_river_{label}"] = [round(a / b, 2) for a, b in zip(ours, theirs)]
            result[f"median_paired_ratio_vs_river_{label}"] = round(statistics.median(a / b for a, b in zip(ours, theirs)), 2)
            result[f"cusum_ratio_vs_river_{label}"] = round(max(cusum) / max(theirs), 2)
        del events, baselines, stream
        gc.collect()
    n_keys = max(args.keys)
    progress(f"measuring state memory ({args.events:,} events over {n_keys:,} keys, tracemalloc) ...")
    per_key, entries = state_bytes_per_key(args.events, n_keys)
    result["state_bytes_per_key"] = round(per_key)
    result["state_keys"] = n_keys
    result["window_entries_per_key"] = round(entries, 1)
    result["state_bytes_per_window_entry"] = round(per_key / entries, 1) if entries else None
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
