"""``python -m chaos.failover --detectors 3 [--kill-one]``: detector fail-over in one process.

Runs the raw-event ingester and N detector consumers of one group (the composition of
``run_stack --detectors N``) over the run's topic, in the process that owns the run's chDB.
The input (``--input``) is produced only once every detector holds partitions. With
``--kill-one``, once every detector has committed a batch, the busiest is stopped as a crash
would stop it (``StreamRunner.kill()``: no flush, no commit, consumer closed); the others take
its partitions over. When the group has committed the whole topic, everything stops and the
audit of the stores is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detectors", type=int, default=3)
    parser.add_argument("--kill-one", action="store_true")
    parser.add_argument("--input", required=True, help="the messages to produce: 'base64(key) base64(value)' per line")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the group to catch up")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from chaos.harness import Kafka, Message
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
    # The input is produced only once every detector holds partitions (the group has formed),
    # in slices, so the kill lands while all three share the work.
    detectors = [(name, runner, handler) for name, runner, handler in parts[1:]]
    formed_deadline = time.monotonic() + 60
    while time.monotonic() < formed_deadline and not all(h.detectors for _, _, h in detectors):
        time.sleep(0.05)
    print(f"failover: partitions per detector {[(n, sorted(p for _, p in h.detectors)) for n, _, h in detectors]}",
          file=sys.stderr, flush=True)
    messages = [Message(base64.b64decode(k), base64.b64decode(v)) for k, v in
                (line.split() for line in Path(args.input).read_text().splitlines())]
    third = len(messages) // 3
    kafka.produce(topic, messages[:third])
    if args.kill_one:
        while time.monotonic() < deadline and not all(r.batches >= 1 for _, r, _ in detectors):
            time.sleep(0.02)
        name, victim, _ = max(detectors, key=lambda d: d[1].batches)
        victim.kill()
        print(f"failover: killed {name}; batches per detector {[(n, r.batches) for n, r, _ in detectors]}",
              file=sys.stderr, flush=True)
    kafka.produce(topic, messages[third:])
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
