"""Pipeline benchmark: `python -m bench.pipeline` (make bench-pipeline).

Needs the local services (scripts/services up). Uses its own topics, consumer groups, chDB
directory and PostgreSQL database (``drift_bench``, created and migrated if missing), so it
never touches the developer's data. Events are spread over ``--keys`` (10,000) keys. The topic
is first filled with the ``--ceiling-events`` / ``--quix-events`` the next two steps read, then,
each with a consumer group of its own:

- ``ceiling_consume_events_per_s``: a bare confluent-kafka consume loop (no decoding), over the
  first ``--ceiling-events`` (1,000,000) messages;
- ``ceiling_events_per_s``: the same loop, decoding/validating each message with the detector's
  decoder (``parse_event``);
- the topic is then topped up so that the detector phase cannot drain it: to ``ceiling_events_per_s``
  x ``--throughput-seconds`` x 1.15 events (the detector does everything the decode loop does and
  more, so it cannot be faster); ``--events N`` fills exactly N instead (in one go, before the
  ceilings); ``events`` in the JSON is what was filled;
- ``detector_events_per_s``: the detector service for ``--throughput-seconds`` (default 60) of
  steady state on the full topic: committed messages from the first poll to the first commit
  after that duration, ClickHouse writes (drift_events, drift_status_current, checkpoints) and
  Postgres source upserts included (so every periodic job runs several times);
  ``ratio_vs_ceiling``; ``throughput_phase_seconds`` (how long it ran); ``throughput_topic_drained``
  (the detector committed the whole topic before the duration was over: then the phase ended
  there and was not steady state); ``throughput_phase_ok`` (not drained and at least
  ``--min-phase-seconds`` long); ``flush_p50_ms`` / ``flush_p99_ms`` / ``flush_max_ms``: the time
  of each batch's write and commit step (``handler.flush``) during that phase;
- ``quix_events_per_s``: the same job built with Quix Streams (:mod:`bench.quix`, a
  stateful ``.apply`` with a 30 s event-time window per key, emitting on state change) over
  the first ``--quix-events`` (default 1,000,000) messages of the same topic, in its own
  process; ``ratio_vs_quix`` = detector / Quix;
- ``latency_p50_ms`` / ``latency_p99_ms``: at a steady produce rate (``--rate``, 5,000 events/s)
  for ``--latency-seconds`` (60), from each message's produce time (Kafka CreateTime) to the
  end of its batch's flush (the batch's transitions written to ClickHouse, dead letters
  confirmed, offsets committed; the key's status follows within ``STATUS_FLUSH_SECONDS``, off
  the consumer thread). This phase has a topic of its own (the throughput
  topic is not drained), pre-filled with 60 events per key that end a minute before it starts
  (every key has a full 60 s window, as after the throughput phase) and consumed before the
  steady producer starts.

Runtime on a quiet 2-core machine: about 4-5 minutes (estimated from the phases: set-up ~30 s;
fill ~1 min for ~12 M events at ~250 k events/s; ceilings ~15 s; detector ``--throughput-seconds``
+ a few s; Quix ~45 s; latency ~1.5 min), more on a busy one; ``total_seconds`` in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def _setup(database: str, chdb_dir: str, topic: str) -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://drift:drift@127.0.0.1:5432/drift")
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + database
    os.environ["CLICKHOUSE_URL"] = f"chdb://{chdb_dir}"
    os.environ["KAFKA_EVENTS_TOPIC"] = topic
    os.environ["KAFKA_DLQ_TOPIC"] = topic + ".dlq"
    os.environ["KAFKA_DETECTOR_GROUP"] = f"bench-detector-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# The most events a run fills (the top-up is capped here): it fixes how far back the event times
# start, so that a top-up continues each key's event time without reaching the future.
MAX_EVENTS = 50_000_000
TOP_UP_MARGIN = 1.15  # x ceiling x duration: the decode loop is an upper bound of the detector


def _first_event_time_ms(events: int, keys: int) -> int:
    """Event time of the first event of a fill of ``events``: the last one is a minute ago."""
    return int(time.time() * 1000) - events // keys * 1000 - 60_000


def _fill(bootstrap: str, topic: str, *, events: int, keys: int, seed: int, t0_ms: int, start: int = 0) -> float:
    """Produce events ``start`` .. ``start + events - 1`` (event ``i``: key ``i % keys``, event time
    ``t0_ms + (i // keys)`` s, value ~ N(50, 2)); seconds taken."""
    import numpy as np
    from confluent_kafka import Producer

    from detection.core.events import encode_event, kafka_key

    rng = np.random.default_rng(seed)
    names = [(f"bench-{k:05d}", "cpu") for k in range(keys)]
    key_bytes = [kafka_key(s, m) for s, m in names]
    values = rng.normal(50.0, 2.0, size=events)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1_000_000, "compression.type": "lz4"})
    started = time.perf_counter()
    for j in range(events):
        i = start + j
        k = i % keys
        s, m = names[k]
        while True:
            try:
                producer.produce(topic, key=key_bytes[k], value=encode_event(s, m, float(values[j]), t0_ms + (i // keys) * 1000))
                break
            except BufferError:
                producer.poll(0.05)
        if j % 50_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return time.perf_counter() - started


def _ceiling(bootstrap: str, topic: str, events: int, *, decode: bool) -> float:
    """Events/s of a bare consume loop over the topic, with or without ``parse_event``."""
    from confluent_kafka import Consumer

    from detection.core.events import InvalidEvent, parse_event

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-ceiling-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = 0
    started = None
    now_ms = int(time.time() * 1000)
    while seen < events:
        batch = consumer.consume(num_messages=5000, timeout=1.0)
        if started is None and batch:
            started = time.perf_counter()
        for message in batch:
            if message.error():
                continue
            if decode:
                try:
                    parse_event(message.value(), now_ms=now_ms, max_future_skew_ms=300_000)
                except InvalidEvent:
                    pass
            else:
                message.value()
            seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def _baselines(keys: int) -> None:
    from config_app.models import BaselineStats
    from config_app.services.thresholds import DEMO_DEFAULT, threshold_upsert

    threshold_upsert(**DEMO_DEFAULT)
    BaselineStats.objects.all().delete()
    BaselineStats.objects.bulk_create(
        [BaselineStats(source_id=f"bench-{k:05d}", metric="cpu", count=1000, mean=50.0, m2=4.0 * 999) for k in range(keys)],
        batch_size=5000,
    )


def _profile_shares(profile) -> dict:
    """Percent of the detector thread's time per component, from a cProfile of ``runner.run``.

    cProfile slows pure-Python code more than C calls, so the shares lean towards the Python
    parts; they show where the time goes, not what each part costs without the profiler.
    """
    import pstats

    stats = pstats.Stats(profile).stats  # (file, line, function) -> (cc, nc, tottime, cumtime, callers)

    def cumulative(match) -> float:
        return sum(v[3] for k, v in stats.items() if match(*k))

    total = cumulative(lambda f, _l, fn: fn == "run" and f.endswith("runner.py"))
    parts = {
        "decode (parse_event)": cumulative(lambda f, _l, fn: fn == "parse_event"),
        "detect (KeyedDetector.update)": cumulative(lambda f, _l, fn: fn == "update" and f.endswith("core/detector.py")),
        "process_batch (whole loop)": cumulative(lambda f, _l, fn: fn == "process_batch" and "detector_service" in f),
        "flush (writes + commit)": cumulative(lambda f, _l, fn: fn == "timed_flush"),
        "consume (librdkafka)": cumulative(lambda f, _l, fn: "method 'consume'" in fn),
    }
    return {name: round(100 * t / total, 1) for name, t in parts.items()} if total else {}


def _detector_throughput(events: int, seconds: float, *, profile: bool = False) -> tuple[float, float, bool, list[float], dict, dict]:
    """(events/s, phase seconds, drained, flush durations in ms, totals, profile shares) of the
    detector on a topic of ``events`` messages for ``seconds``.

    The phase runs from the thread's start to the first commit seen after ``seconds`` (batches
    last at most DETECTOR_BATCH_MAX_SECONDS, so that is a fraction of a second later), or to
    the commit of the topic's last message if it drains sooner (``drained``); the rate is the
    messages committed by then over that time. Flush times come from wrapping the handler's
    ``flush`` (the batch's writes and commit). With ``profile``, the detector thread runs under
    cProfile (slower: use it for shares only).
    """
    from detection.wiring import build_detector, tune_interpreter

    tune_interpreter()  # as run_detector and run_stack do
    runner, handler = build_detector(checkpoint_seconds=30.0)
    flushes: list[float] = []
    flush = handler.flush

    def timed_flush(next_offsets):
        started = time.perf_counter()
        flush(next_offsets)
        flushes.append((time.perf_counter() - started) * 1000)

    handler.flush = timed_flush
    stop = threading.Event()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()

    def run() -> None:
        if profiler is None:
            runner.run(stop)
            return
        profiler.enable()
        try:
            runner.run(stop)
        finally:
            profiler.disable()

    thread = threading.Thread(target=run)
    started = time.perf_counter()
    thread.start()
    committed, committed_at = 0, started
    while thread.is_alive():
        now, seen = time.perf_counter(), runner.committed_messages
        if seen != committed:
            committed, committed_at = seen, now
        if committed >= events or committed_at - started >= seconds or now - started >= 2 * seconds + 60:
            break  # drained, the duration is over, or no commit for far too long (it says so)
        time.sleep(0.01)
    elapsed = committed_at - started
    stop.set()
    thread.join()
    shares = _profile_shares(profiler) if profiler is not None else {}
    return committed / elapsed if elapsed else 0.0, elapsed, committed >= events, flushes, dict(handler.totals), shares


def _quix(bootstrap: str, topic: str, events: int, group: str) -> dict:
    """The Quix Streams peer over the first ``events`` messages, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.quix", topic, "--bootstrap", bootstrap, "--events", str(events),
         "--group", group],
        check=True, capture_output=True, text=True, timeout=3600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def _produce_steady(bootstrap: str, topic: str, *, rate: int, seconds: float, keys: int) -> None:
    """Produce ``rate`` events/s for ``seconds``, event_time = produce time (run as a subprocess)."""
    import numpy as np
    from confluent_kafka import Producer

    from detection.core.events import encode_event, kafka_key

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    names = [(f"bench-{k:05d}", "cpu") for k in range(keys)]
    keys_b = [kafka_key(s, m) for s, m in names]
    total = int(rate * seconds)
    values = np.random.default_rng(2).normal(50.0, 2.0, size=total)
    started = time.perf_counter()
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        s, m = names[i % keys]
        producer.produce(topic, key=keys_b[i % keys], value=encode_event(s, m, float(values[i]), int(time.time() * 1000)))
        producer.poll(0)
    producer.flush(30)


def _latency(bootstrap: str, topic: str, *, rate: int, seconds: float, keys: int) -> list[float]:
    """Produce at ``rate`` events/s to ``topic`` (pre-filled) while the detector runs; latency
    per message in ms."""
    from django.conf import settings

    from detection.wiring import build_detector, tune_interpreter

    tune_interpreter()  # as run_detector and run_stack do
    settings.KAFKA_EVENTS_TOPIC = topic  # build_detector reads it
    runner, handler = build_detector(checkpoint_seconds=30.0)
    latencies: list[float] = []
    pending: list[int] = []
    process_batch, flush = handler.process_batch, handler.flush

    def timed_process(messages):
        pending.extend(m.timestamp()[1] for m in messages)
        process_batch(messages)

    def timed_flush(next_offsets):
        flush(next_offsets)
        done = time.time() * 1000
        latencies.extend(done - ts for ts in pending)
        pending.clear()

    handler.process_batch, handler.flush = timed_process, timed_flush
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    # wait until the detector has caught up with the pre-filled topic
    while True:
        before = runner.committed_messages
        time.sleep(1.0)
        if runner.committed_messages == before:
            break
    latencies.clear()
    # The steady producer is another process: in this one it would compete for the GIL.
    total = int(rate * seconds)
    subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--produce-steady", topic,
         "--rate", str(rate), "--latency-seconds", str(seconds), "--keys", str(keys)],
        check=True,
    )
    deadline = time.time() + 30
    while len(latencies) < total and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=None,
                        help="fill exactly this many events (default: enough that the detector cannot drain "
                             "the topic in --throughput-seconds, sized from the measured decode ceiling)")
    parser.add_argument("--ceiling-events", type=int, default=1_000_000,
                        help="messages each ceiling loop reads (a rate: the first N are enough)")
    parser.add_argument("--quix-events", type=int, default=1_000_000, help="messages the Quix peer processes (0: skip it)")
    parser.add_argument("--throughput-seconds", type=float, default=60.0,
                        help="how long the detector phase runs (steady state on a topic it cannot drain)")
    parser.add_argument("--min-phase-seconds", type=float, default=60.0,
                        help="the throughput and latency phases must last at least this long")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=5_000, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--database", default="drift_bench")
    parser.add_argument("--profile", action="store_true",
                        help="run the detector phase under cProfile and report its time per component (slower)")
    parser.add_argument("--produce-steady", metavar="TOPIC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if args.produce_steady:
        _produce_steady(bootstrap, args.produce_steady, rate=args.rate, seconds=args.latency_seconds, keys=args.keys)
        return 0

    if args.latency_seconds < args.min_phase_seconds:
        parser.error(f"--latency-seconds must be >= --min-phase-seconds ({args.min_phase_seconds})")
    if args.throughput_seconds < args.min_phase_seconds:
        parser.error(f"--throughput-seconds must be >= --min-phase-seconds ({args.min_phase_seconds})")
    if args.events is not None and not 1 <= args.events <= MAX_EVENTS:
        parser.error(f"--events must be between 1 and {MAX_EVENTS:,}")
    run_started = time.perf_counter()
    load_at_start = round(os.getloadavg()[0], 2)
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench.events.{uuid.uuid4().hex[:8]}"
    latency_topic = topic + ".latency"
    quix_group = f"bench-quix-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1),
                                  NewTopic(latency_topic, num_partitions=6, replication_factor=1),
                                  NewTopic(topic + ".dlq", num_partitions=1, replication_factor=1)]).values():
        f.result(timeout=30)
    chdb_dir = tempfile.mkdtemp(prefix="bench-pipeline-")
    try:
        _setup(args.database, chdb_dir, topic)
        _baselines(args.keys)
        # Event times are laid out for the largest fill, so that a top-up continues them.
        t0_ms = _first_event_time_ms(args.events or MAX_EVENTS, args.keys)
        filled = args.events or max(args.ceiling_events, args.quix_events, 1)
        _say(f"filling {topic} with {filled:,} events over {args.keys:,} keys...")
        fill_s = _fill(bootstrap, topic, events=filled, keys=args.keys, seed=1, t0_ms=t0_ms)
        _say(f"  produced in {fill_s:.1f} s ({filled / fill_s:,.0f} events/s)")
        ceiling_events = min(args.ceiling_events, filled)
        consume_ceiling = _ceiling(bootstrap, topic, ceiling_events, decode=False)
        _say(f"ceiling (bare consume): {consume_ceiling:,.0f} events/s")
        ceiling = _ceiling(bootstrap, topic, ceiling_events, decode=True)
        _say(f"ceiling (consume + decode): {ceiling:,.0f} events/s")
        if args.events is None:
            target = min(MAX_EVENTS, int(ceiling * args.throughput_seconds * TOP_UP_MARGIN))
            if target > filled:
                _say(f"topping {topic} up to {target:,} events (ceiling x {args.throughput_seconds:g} s x {TOP_UP_MARGIN})...")
                top_up_s = _fill(bootstrap, topic, events=target - filled, keys=args.keys, seed=2, t0_ms=t0_ms, start=filled)
                _say(f"  produced in {top_up_s:.1f} s ({(target - filled) / top_up_s:,.0f} events/s)")
                filled = target
        detector, phase_s, drained, flushes, totals, shares = _detector_throughput(
            filled, args.throughput_seconds, profile=args.profile)
        _say(f"detector (end to end, committed): {detector:,.0f} events/s over {phase_s:.1f} s"
             f"{' (drained the topic: not steady state)' if drained else ''}; totals {totals}")
        quix = {}
        if args.quix_events:
            quix = _quix(bootstrap, topic, min(args.quix_events, filled), quix_group)
            _say(f"quix streams peer: {quix}")
        warm_up = args.keys * 60
        _say(f"latency phase: filling {latency_topic} with {warm_up:,} warm-up events (60 per key)...")
        _fill(bootstrap, latency_topic, events=warm_up, keys=args.keys, seed=3,
              t0_ms=_first_event_time_ms(warm_up, args.keys))
        latencies = _latency(bootstrap, latency_topic, rate=args.rate, seconds=args.latency_seconds, keys=args.keys)
        result = {
            "events": filled,
            "keys": args.keys,
            "ceiling_consume_events_per_s": round(consume_ceiling),
            "ceiling_events_per_s": round(ceiling),
            "detector_events_per_s": round(detector),
            "ratio_vs_ceiling": round(detector / ceiling, 3),
            "throughput_phase_seconds": round(phase_s, 1),
            "throughput_topic_drained": drained,
            "throughput_phase_ok": not drained and phase_s >= args.min_phase_seconds,
            "flushes": len(flushes),
            "flush_p50_ms": round(_percentile(flushes, 0.50), 1) if flushes else None,
            "flush_p99_ms": round(_percentile(flushes, 0.99), 1) if flushes else None,
            "flush_max_ms": round(max(flushes), 1) if flushes else None,
            "flush_share_of_phase": round(sum(flushes) / 1000 / phase_s, 3) if flushes else None,
            **({"profile_percent_of_detector_thread": shares} if args.profile else {}),
            **quix,
            "ratio_vs_quix": round(detector / quix["quix_events_per_s"], 2) if quix else None,
            "latency_rate_events_per_s": args.rate,
            "latency_seconds": args.latency_seconds,
            "latency_samples": len(latencies),
            "latency_p50_ms": round(_percentile(latencies, 0.50), 1) if latencies else None,
            "latency_p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
            "load_average_1m_at_start": load_at_start,
            "total_seconds": round(time.perf_counter() - run_started),
        }
    finally:
        quix_topics = [t for t in admin.list_topics(timeout=30).topics if quix_group in t]  # Quix's changelogs
        for f in admin.delete_topics([topic, latency_topic, topic + ".dlq", topic + ".quix-transitions",
                                      *quix_topics]).values():
            try:
                f.result(timeout=30)
            except Exception:
                pass
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
