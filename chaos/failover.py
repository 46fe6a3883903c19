"""``python -m chaos.failover --detectors 3 [--kill-one]``: detector fail-over in one process.

Runs the raw-event ingester and N detector consumers of one group (the composition of
``run_stack --detectors N``) over the run's topic, in the process that owns the run's chDB.
With ``--kill-one``, once the group has made progress, one detector is stopped as a crash
would stop it (``StreamRunner.kill()``: no flush, no commit, consumer closed); the others take
its partitions over. When the group has committed the whole topic, everything stops and the
audit of the stores is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detectors", type=int, default=3)
    parser.add_argument("--kill-one", action="store_true")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the group to catch up")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from chaos.harness import Kafka
    from detection.clickhouse.audit import drift_transitions, raw_event_audit
    from detection.clickhouse.client import get_client
    from detection.wiring import build_detector, build_ingester

    call_command("migrate_clickhouse", verbosity=0)
    kafka = Kafka(settings.KAFKA_BOOTSTRAP_SERVERS)
    topic, group = settings.KAFKA_EVENTS_TOPIC, settings.KAFKA_DETECTOR_GROUP
    parts = [("ingest", *build_ingester())] + [(f"detector-{i}", *build_detector(name=f"detector-{i}")) for i in range(args.detectors)]
    stops = {name: threading.Event() for name, _, _ in parts}
    errors: list[str] = []

    def guarded(name, runner):
        try:
            runner.run(stops[name])
        except BaseException as exc:  # noqa: BLE001 - reported, the case fails on it
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(name, runner), name=name) for name, runner, _ in parts]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.timeout
    if args.kill_one:
        # Mid-scenario: the first detector that has committed two batches (it holds partitions and
        # work remains) is stopped as a crash would stop it; after 60 s, the busiest one.
        detectors = [(name, runner) for name, runner, _ in parts[1:]]
        kill_deadline = time.monotonic() + 60
        while time.monotonic() < kill_deadline and not any(r.batches >= 2 for _, r in detectors):
            time.sleep(0.05)
        name, victim = max(detectors, key=lambda nr: nr[1].batches)
        victim.kill()
        print(f"failover: killed {name} after {victim.batches} batches", file=sys.stderr, flush=True)
    while time.monotonic() < deadline and not (
        kafka.group_caught_up(group, topic) and kafka.group_caught_up(settings.KAFKA_INGEST_GROUP, topic)
    ):
        time.sleep(0.5)
    for stop in stops.values():
        stop.set()
    for t in threads:
        t.join(timeout=30)
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        errors.append(f"did not stop within 30 s of the stop request: {stuck}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
    client = get_client()
    db = settings.CLICKHOUSE_DATABASE
    print(json.dumps({"raw": raw_event_audit(client, database=db), "transitions": drift_transitions(client, database=db),
                      "errors": errors, "detector_lag": kafka.group_lag(group, topic)}), flush=True)
    os._exit(0)  # a stuck consumer thread must not keep the process (and the case) alive


if __name__ == "__main__":
    raise SystemExit(main())
