"""The fault cases of `make chaos`; each returns the dict of its figures (see README, "Fault suite")."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

from chaos.harness import (
    PYTHON,
    ROOT,
    Kafka,
    Message,
    Run,
    drift_scenario,
    http_status,
    say,
    scenario_keys,
    services,
    tail,
    transition_key,
)
from chaos.poison import interleave, poison_classes, valid_events
from detection.core.events import encode_event, event_id_for, kafka_key, parse_event
from driftsite.polling import wait_until

# Thresholds of the chaos metric (its own threshold row, so nothing else is affected).
CHAOS_THRESHOLDS = {"window_seconds": 20.0, "min_samples": 10, "z_threshold": 2.0, "std_ratio_threshold": 2.5,
                    "enter_hits": 3, "exit_hits": 10, "allowed_lateness_seconds": 5.0}
SCENARIO_START_MS = 1_780_000_000_000  # 2026-05-28: in the past, one monthly partition


def configure(*, metric: str, source_ids: list[str]) -> None:
    """A threshold row for ``metric`` and an N(0, 1) baseline for each source (PostgreSQL)."""
    from django.db import connection

    from config_app.models import BaselineStats
    from config_app.services.thresholds import threshold_upsert

    threshold_upsert(metric=metric, **CHAOS_THRESHOLDS)
    for source_id in source_ids:
        BaselineStats.objects.update_or_create(source_id=source_id, metric=metric,
                                               defaults={"count": 10_000, "mean": 0.0, "m2": 9_999.0})
    connection.close()


class Context:
    def __init__(self, *, base_env: dict, workdir: Path, kafka: Kafka, seed: int) -> None:
        self.base_env = base_env
        self.workdir = workdir
        self.kafka = kafka
        self.rng = random.Random(seed)
        self.runs: list[Run] = []

    def run(self, name: str, **kwargs) -> Run:
        run = Run(name=name, base_env=self.base_env, workdir=self.workdir, kafka=self.kafka, **kwargs)
        self.runs.append(run)
        return run

    def cleanup(self) -> None:
        for run in self.runs:
            run.cleanup()


def _compare(reference: list[dict], observed: list[dict]) -> tuple[bool, int, int]:
    want = {transition_key(t) for t in reference}
    got = [transition_key(t) for t in observed]
    return set(got) == want and len(got) == len(want), len(want - set(got)), len(got) - len(set(got) & want)


# --- poison classes (+ the API fuzz against the same live stack) ------------------------------------
def poison_case(ctx: Context, *, fuzz: dict | None = None) -> tuple[dict, dict | None]:
    """Every poison class mixed into valid events on a private topic; the stack consumes it.

    ``fuzz`` (keyword arguments of api_fuzz) runs the API fuzz against the same stack while it
    is up and holds data, which saves a start."""
    from chaos.api_fuzz import api_fuzz

    classes = poison_classes()
    valid = valid_events()
    stream = interleave(classes, valid)
    run = ctx.run("poison", batch_max_events=500)
    positions = ctx.kafka.produce(run.topic, [m for _, m in stream])
    say(f"poison: {len(classes)} classes ({sum(len(c.messages) for c in classes)} messages) among {len(valid)} valid events")
    run.start()
    done = run.run_until_caught_up(timeout=120)
    if not done:
        say("poison: the stack did not consume the topic to the end")
    fuzz_result = None
    if fuzz is not None and done and run.alive():
        fuzz_result = api_fuzz(run.base_url, **fuzz)
    status = run.stop()
    if status not in (0, None):
        run.crashes += 1
        say(f"poison: run_stack exited {status} on SIGTERM")
    audit = run.audit()
    stored = set(audit["raw"]["event_ids"])
    # dead letters: by the original key, or by the source position headers
    index_of = {id(m): i for i, (_, m) in enumerate(stream)}
    dead = {}
    for msg in ctx.kafka.read_all(run.dlq_topic):
        headers = dict((k, v) for k, v in (msg.headers() or []))
        reason = (headers.get("reason") or b"").decode(errors="replace")
        try:
            pos = (int(headers["source_partition"]), int(headers["source_offset"]))
        except (KeyError, ValueError):
            pos = None
        dead[pos] = reason
        dead.setdefault(("key", msg.key()), reason)
    handled = 0
    for c in classes:
        ok = True
        for m in c.messages:
            index = index_of[id(m)]
            in_dlq = bool(dead.get(positions[index]) or dead.get(("key", m.key)))
            in_store = m.event_id is not None and m.event_id in stored
            if c.expect == "dlq" and not in_dlq:
                ok = False
            if c.expect == "dlq_or_stored" and not (in_dlq or in_store):
                ok = False
        handled += ok
        if not ok:
            say(f"poison: class {c.name} was neither dead-lettered with a reason nor stored")
    valid_lost = len({m.event_id for m in valid} - stored)
    if fuzz is not None and fuzz_result is None:
        # The poison stack could not stay up: fuzz a stack that can, holding the valid events.
        say("api_fuzz: the poison stack is down; fuzzing a stack over the valid events only")
        clean = ctx.run("fuzz", batch_max_events=500)
        ctx.kafka.produce(clean.topic, valid)
        clean.start()
        clean.run_until_caught_up(timeout=120, max_restarts=0)
        fuzz_result = api_fuzz(clean.base_url, **fuzz) if clean.alive() else {"requests": 0, "status_5xx": None}
        clean.stop()
    return ({"classes": len(classes), "dead_lettered": handled, "crashes": run.crashes, "valid_lost": valid_lost},
            fuzz_result)


# --- kill -9 ----------------------------------------------------------------------------------------
def kill9_case(ctx: Context, *, kills: int = 10, keys: int = 12, events_per_key: int = 2400,
               max_after_ready: float = 4.0) -> dict:
    """kill -9 of run_stack at random points; then a clean reference run over the same input.

    The deterministic scenario is produced in ``kills`` slices, one before each start, so every
    kill lands while there is work in flight; at a random moment between 0 and
    ``max_after_ready`` s after the stack serves (so also during assignment and restore).
    """
    metric = "chaos.kill9"
    prefix = f"k9{ctx.rng.randrange(10**6):06d}"
    configure(metric=metric, source_ids=scenario_keys(prefix, keys))
    messages = drift_scenario(prefix=prefix, metric=metric, keys=keys, events_per_key=events_per_key,
                              start_ms=SCENARIO_START_MS)
    expected = {m.event_id for m in messages}
    run = ctx.run("kill9", batch_max_events=1000)
    slice_size = -(-len(messages) // kills)
    for i in range(kills):
        ctx.kafka.produce(run.topic, messages[i * slice_size:(i + 1) * slice_size])
        run.start()
        delay = ctx.rng.uniform(0.0, max_after_ready)
        time.sleep(delay)  # the random kill point is the point of the case, not a synchronisation
        run.kill9()
        say(f"kill9: run {i + 1}/{kills}: killed {delay:.2f} s after it served")
    run.start()
    caught_up = run.run_until_caught_up(timeout=240, max_restarts=2)
    run.stop()
    killed = run.audit()
    say(f"kill9: recovery run {'caught up' if caught_up else 'did NOT catch up'}; reference run (clean)")
    reference_run = ctx.run("kill9ref", topic=run.topic, batch_max_events=1000)
    reference_run.start()
    reference_run.run_until_caught_up(timeout=240, max_restarts=0)
    reference_run.stop()
    reference = reference_run.audit()
    equal, missing, extra = _compare(reference["transitions"], killed["transitions"])
    if not equal:
        say(f"kill9: transitions differ: {missing} missing, {extra} extra (reference has {len(reference['transitions'])})")
    stored = set(killed["raw"]["event_ids"])
    ref_ok = set(reference["raw"]["event_ids"]) == expected
    if not ref_ok:
        say("kill9: the clean reference run itself did not store every event")
    return {"runs": kills, "transitions_equal": equal and bool(reference["transitions"]),
            "raw_events_lost": len(expected - stored),
            "raw_events_duplicated": killed["raw"]["rows_final"] - len(stored)}


# --- broker restart ---------------------------------------------------------------------------------
def broker_restart_case(ctx: Context, *, down_seconds: float = 46.0, before: float = 5.0, after: float = 15.0) -> dict:
    """Kafka stopped for ``down_seconds`` while three producers and the stack run."""
    import json
    import subprocess

    run = ctx.run("broker")
    run.start()
    duration = before + down_seconds + after + 40  # + start-up of the producers
    prefix = f"br{ctx.rng.randrange(10**6):06d}"
    producers = []
    kinds, sources, rate = ("stable", "dynamic", "drift"), 3, 10
    for kind in kinds:
        producers.append(subprocess.Popen(
            [PYTHON, "manage.py", "run_producer", "--kind", kind, "--sources", str(sources), "--rate", str(rate), "--duration",
             str(duration), "--topic", run.topic, "--control-topic", run.control_topic, "--no-register",
             "--source-prefix", f"{prefix}-{kind}", "--progress-interval", "15"],
            cwd=ROOT, env=run.env, stdout=subprocess.PIPE, stderr=(ctx.workdir / f"producer-{kind}.log").open("w"),
            text=True))

    def kinds_in_topic() -> set[str]:
        found = set()
        for msg in ctx.kafka.read_all(run.topic):
            try:
                found.add(parse_event(msg.value(), now_ms=None, max_future_skew_ms=0).source_id.split("-")[1])
            except Exception:
                continue
        return found

    wait_until(lambda: kinds_in_topic() >= set(kinds) or any(p.poll() is not None for p in producers),
               timeout=90, interval=1.0, what="every producer to deliver its first events")
    say(f"broker: producers running: {sorted(kinds_in_topic())}")
    time.sleep(before)  # the producers and the stack run normally first (a fixed part of the scenario)
    say("broker: stopping Kafka")
    try:
        services("down", "kafka")
        down_at = time.monotonic()
        while time.monotonic() - down_at < down_seconds:
            time.sleep(1.0)
        say(f"broker: starting Kafka after {time.monotonic() - down_at:.0f} s down")
        up_started = time.monotonic()
    finally:
        services("up", "kafka")
    down = up_started - down_at
    outputs = [p.communicate(timeout=duration + 180)[0] for p in producers]  # they drain, then exit
    in_topic: dict[str, set[int]] = {kind: set() for kind in kinds}
    for msg in ctx.kafka.read_all(run.topic):
        try:
            event = parse_event(msg.value(), now_ms=None, max_future_skew_ms=0)
        except Exception:
            continue
        in_topic.setdefault(event.source_id.split("-")[1], set()).add(event.event_id)
    producer_lost = 0
    for kind, p, out in zip(kinds, producers, outputs):
        try:
            summary = json.loads(out.strip().splitlines()[-1])
            generated = summary["events"]
            say(f"broker: {kind} producer exit {p.returncode}: events {generated} delivered {summary['delivered']} "
                f"errors {summary['delivery_errors']} undelivered {summary['undelivered']}; in the topic {len(in_topic[kind])}")
        except (ValueError, IndexError, KeyError):
            # It died without its summary: what it should have generated is its plan.
            generated = int(round(rate * sources * 2 * duration))
            say(f"broker: {kind} producer exited {p.returncode} without a summary (see {ctx.workdir}/producer-{kind}.log); "
                f"planned {generated}, in the topic {len(in_topic[kind])}")
        producer_lost += max(0, generated - len(in_topic[kind]))
    all_in_topic = set().union(*in_topic.values())
    detector_lag = 0
    if not run.run_until_caught_up(timeout=120):
        detector_lag = ctx.kafka.group_lag(run.detector_group, run.topic)
        say(f"broker: the stack did not catch up after the restart; the detector group has {detector_lag} "
            f"uncommitted message(s), the ingester {ctx.kafka.group_lag(run.ingest_group, run.topic)}")
    run.stop()
    audit = run.audit()
    stored = set(audit["raw"]["event_ids"])
    return {"down_seconds": round(down, 1), "producer_lost": producer_lost,
            "consumer_lost": len(all_in_topic - stored) + detector_lag}


# --- PostgreSQL outage -------------------------------------------------------------------------------
class _LiveFeed:
    """Events with event time = now for a few keys, 10/s per key, with a +5 sigma mean shift
    while ``shift`` is set; every produced event's id is kept."""

    def __init__(self, kafka: Kafka, topic: str, *, metric: str, source_ids: list[str]) -> None:
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": kafka.bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.topic, self.metric, self.source_ids = topic, metric, source_ids
        self.shift = threading.Event()
        self.stop = threading.Event()
        self.ids: set[int] = set()
        self.failed = 0
        self.rng = random.Random(11)
        self.thread = threading.Thread(target=self._loop, name="live-feed", daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            now_ms = int(time.time() * 1000)
            for source_id in self.source_ids:
                value = round(self.rng.gauss(5.0 if self.shift.is_set() else 0.0, 1.0), 6)
                self.producer.produce(self.topic, key=kafka_key(source_id, self.metric),
                                      value=encode_event(source_id, self.metric, value, now_ms),
                                      on_delivery=self._delivered)
                self.ids.add(event_id_for(source_id, self.metric, value, now_ms))
            self.producer.poll(0)
            self.stop.wait(0.1)
        self.producer.flush(60)

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.failed += 1


def postgres_outage_case(ctx: Context, *, down_seconds: float = 62.0) -> dict:
    metric = "chaos.pg"
    source_ids = [f"pg{ctx.rng.randrange(10**6):06d}-{k}" for k in range(4)]
    configure(metric=metric, source_ids=source_ids)
    run = ctx.run("pg")
    run.start()
    feed = _LiveFeed(ctx.kafka, run.topic, metric=metric, source_ids=source_ids)
    feed.thread.start()

    time.sleep(8)  # let the keys fill their windows (20 s window, min 10 samples) before the outage
    say("pg: stopping PostgreSQL")
    from django.db import connections

    connections.close_all()
    answered = polls = 0
    try:
        services("down", "postgres")
        down_started_ms = int(time.time() * 1000)
        down_at = time.monotonic()
        while time.monotonic() - down_at < down_seconds:
            elapsed = time.monotonic() - down_at
            if 10 <= elapsed < 35 and not feed.shift.is_set():
                feed.shift.set()  # drift starts during the outage ...
            if elapsed >= 35 and feed.shift.is_set():
                feed.shift.clear()  # ... and ends during it
            status = http_status(f"{run.base_url}/health", timeout=5)
            polls += 1
            answered += status in (200, 503)
            time.sleep(0.5)
        up_started = time.monotonic()
        down_ended_ms = int(time.time() * 1000)
        say(f"pg: starting PostgreSQL after {up_started - down_at:.0f} s down; /health answered {answered}/{polls}")
    finally:
        services("up", "postgres")
    time.sleep(5)
    feed.stop.set()
    feed.thread.join(timeout=90)
    if not run.alive():
        run.crashes += 1
        say(f"pg: run_stack died during the outage (exit {run.stack.returncode}); restarting it to count losses")
        run.start()
    if not run.run_until_caught_up(timeout=180):
        say("pg: the stack did not catch up after the outage")
    run.stop()
    audit = run.audit()
    stored = set(audit["raw"]["event_ids"])
    during = [t for t in audit["transitions"] if down_started_ms <= t["detected_at_ms"] <= down_ended_ms]
    say(f"pg: {len(during)} transition(s) written during the outage, {len(audit['transitions'])} in all")
    return {"down_seconds": round(up_started - down_at, 1), "api_available_fraction": round(answered / max(polls, 1), 4),
            "detection_continued": bool(during), "lost": len(feed.ids - stored)}


# --- consumer fail-over ------------------------------------------------------------------------------
def failover_supported() -> tuple[bool, str]:
    """Whether the interface the case needs exists: ``StreamRunner.kill`` and ``run_stack --detectors``."""
    import subprocess

    from detection.stream.runner import StreamRunner

    if not hasattr(StreamRunner, "kill"):
        return False, "StreamRunner.kill() does not exist yet"
    out = subprocess.run([PYTHON, "manage.py", "run_stack", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "driftsite.settings"})
    if "--detectors" not in out.stdout:
        return False, "run_stack --detectors does not exist yet"
    return True, ""


def failover_case(ctx: Context, *, keys: int = 12, events_per_key: int = 2400) -> dict | None:
    """3 detector consumers in one group, one killed (no flush, no commit) mid-scenario, 2 go on;
    compared with an uninterrupted run of the same input (``python -m chaos.failover``)."""
    import json
    import subprocess

    supported, why = failover_supported()
    if not supported:
        say(f"consumer_failover: pending ({why})")
        return None
    metric = "chaos.failover"
    prefix = f"fo{ctx.rng.randrange(10**6):06d}"
    configure(metric=metric, source_ids=scenario_keys(prefix, keys))
    messages = drift_scenario(prefix=prefix, metric=metric, keys=keys, events_per_key=events_per_key,
                              start_ms=SCENARIO_START_MS)
    failing = ctx.run("failover", batch_max_events=100)  # many small batches: the kill lands mid-stream
    reference = ctx.run("failoverref", batch_max_events=100)  # its own topic: the input is produced per run
    import base64

    input_file = ctx.workdir / "failover-input.txt"
    input_file.write_text("".join(f"{base64.b64encode(m.key).decode()} {base64.b64encode(m.value).decode()}\n"
                                  for m in messages))
    results = {}
    for run, kill in ((failing, True), (reference, False)):
        log = ctx.workdir / f"{run.name}.log"
        try:
            out = subprocess.run([PYTHON, "-m", "chaos.failover", "--detectors", "3", "--input", str(input_file),
                                  *(["--kill-one"] if kill else [])],
                                 cwd=ROOT, env=run.env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                                 timeout=260)
            results[run.name] = json.loads(out.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            say(f"consumer_failover: {run.name} failed ({type(exc).__name__}); log:\n{tail(log, 15)}")
            return {"consumers": 3, "transitions_equal": False, "lost": None, "duplicated": None}
        for error in results[run.name]["errors"]:
            say(f"consumer_failover: {run.name}: {error}")
    failed, clean = results["failover"], results["failoverref"]
    equal, missing, extra = _compare(clean["transitions"], failed["transitions"])
    stored = set(failed["raw"]["event_ids"])
    expected = {m.event_id for m in messages}
    if failed["detector_lag"]:
        say(f"consumer_failover: the detector group left {failed['detector_lag']} message(s) uncommitted")
    return {"consumers": 3, "transitions_equal": equal and bool(clean["transitions"]),
            "lost": len(expected - stored) + missing + failed["detector_lag"],
            "duplicated": failed["raw"]["rows_final"] - len(stored) + extra}


__all__ = ["Context", "Message", "broker_restart_case", "failover_case", "kill9_case", "poison_case",
           "postgres_outage_case"]
