"""The same job built with Quix Streams, as a peer in ``make bench-pipeline``.

``python -m bench.quix TOPIC --events N`` (a dev-only dependency: ``quixstreams``)
reads the benchmark's topic from the beginning with a consumer group of its own and, per Kafka
key, keeps an event-time window of ``--window-seconds`` (30) in Quix's key state, computes the
window's mean and sample std, compares them with a fixed baseline (mean 50, std 2: what the
benchmark's producer draws from), runs the same hysteresis (3 violations start a drift, 10
normal evaluations end it, at least 10 samples) and emits a record to an output topic only when
the key's state changes. This is the "stateful ``.apply``" variant: the whole window lives in
the ``State`` of one ``apply`` (Quix's built-in ``sliding_window`` with a custom std measured
about 7x slower here). Quix's defaults otherwise: RocksDB state, changelog topics on,
at-least-once.

It stops after ``N`` input messages and prints, as its last line, one JSON object with
``quix_events_per_s`` (messages / seconds from the first to the N-th message), ``transitions``
and ``quixstreams`` (its version). It runs in its own process: Quix installs signal handlers
(main thread only) and would otherwise share the GIL with the benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime

BASELINE_MEAN, BASELINE_STD = 50.0, 2.0
Z_THRESHOLD, STD_RATIO_THRESHOLD = 2.0, 2.5
MIN_SAMPLES, ENTER_HITS, EXIT_HITS = 10, 3, 10


def _event_time_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("z", "Z")).timestamp() * 1000)


def make_detect(window_ms: int):
    """The per-message function for ``sdf.apply(..., stateful=True)``."""

    def detect(value: dict, state) -> dict | None:
        t = _event_time_ms(value["event_time"])
        x = float(value["value"])
        window = state.get("window", [])
        window.append((t, x))
        newest = max(t, state.get("newest", t))
        window = [(ti, xi) for ti, xi in window if ti > newest - window_ms]
        state.set("window", window)
        state.set("newest", newest)
        n = len(window)
        if n < MIN_SAMPLES:
            return None
        mean = math.fsum(xi for _, xi in window) / n
        std = math.sqrt(math.fsum((xi - mean) ** 2 for _, xi in window) / (n - 1))
        z = abs(mean - BASELINE_MEAN) / BASELINE_STD
        ratio = std / BASELINE_STD
        violation = z > Z_THRESHOLD or ratio > STD_RATIO_THRESHOLD or ratio < 1 / STD_RATIO_THRESHOLD
        current = state.get("state", "INITIALIZING")
        hits = state.get("hits", 0)
        new = current
        if current in ("INITIALIZING", "NORMAL"):
            hits = hits + 1 if violation else 0
            if hits >= ENTER_HITS:
                new, hits = "DRIFTING", 0
            elif current == "INITIALIZING":
                new = "NORMAL"
        else:
            hits = hits + 1 if not violation else 0
            if hits >= EXIT_HITS:
                new, hits = "NORMAL", 0
        state.set("hits", hits)
        if new == current:
            return None
        state.set("state", new)
        return {"state": new, "event_time_ms": t, "mean": mean, "std": std, "z": z, "ratio": ratio}

    return detect


def run(bootstrap: str, topic: str, *, events: int, window_seconds: float, group: str) -> dict:
    from quixstreams import Application
    import quixstreams

    state_dir = tempfile.mkdtemp(prefix="bench-quix-")
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    source = app.topic(topic, value_deserializer="json")
    sink = app.topic(f"{topic}.quix-transitions", value_serializer="json")
    seen = {"n": 0, "first": None, "last": None, "transitions": 0}

    def count(value):
        if seen["first"] is None:
            seen["first"] = time.perf_counter()
        seen["n"] += 1
        if seen["n"] == events:
            seen["last"] = time.perf_counter()
            app.stop()
        return value

    sdf = app.dataframe(source)
    sdf = sdf.apply(count)
    sdf = sdf.apply(make_detect(int(window_seconds * 1000)), stateful=True)
    sdf = sdf.filter(lambda change: change is not None)
    sdf = sdf.update(lambda change: seen.__setitem__("transitions", seen["transitions"] + 1))
    sdf.to_topic(sink)
    try:
        app.run()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)  # RocksDB state of this run only
    if seen["last"] is None:
        raise RuntimeError(f"quix peer stopped after {seen['n']} of {events} messages")
    elapsed = seen["last"] - seen["first"]
    return {
        "quix_events_per_s": round(events / elapsed),
        "quix_seconds": round(elapsed, 1),
        "quix_transitions": seen["transitions"],
        "quixstreams": quixstreams.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quix", description=__doc__.split("\n\n")[0])
    parser.add_argument("topic")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--window-seconds", type=float, default=30.0)
    parser.add_argument("--group", default=None, help="consumer group (its changelog topics carry the name)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.bootstrap, args.topic, events=args.events, window_seconds=args.window_seconds,
                         group=args.group or f"bench-quix-{uuid.uuid4().hex[:8]}")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
