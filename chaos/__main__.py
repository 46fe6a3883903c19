"""``python -m chaos`` (``make chaos``): the fault suite against the real services.

Progress on stderr; the last line on stdout is one JSON object:

    {"kill9_runs": {...}, "broker_restart": {...}, "postgres_outage": {...},
     "poison_classes": {...}, "consumer_failover": {...} | null, "api_fuzz": {...}}

A case that cannot run yet (``consumer_failover`` before ``run_stack --detectors`` and
``StreamRunner.kill`` exist) is ``null``; a case that raised is ``{"error": "..."}``.
Exit status 0 when the suite ran (whatever the figures say); the figures are the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("poison_classes", "kill9_runs", "broker_restart", "postgres_outage", "consumer_failover")


def base_env() -> dict:
    """The environment of every process the suite starts: the caller's, with the database the
    harness itself uses (so pytest's test database carries over)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "driftsite.settings",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS,
        "PYTHONUNBUFFERED": "1",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fault suite against the real services; JSON on the last line.")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--broker-down", type=float, default=46.0)
    parser.add_argument("--postgres-down", type=float, default=62.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, chDB) for inspection")
    args = parser.parse_args(argv)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(wanted) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from chaos import cases
    from chaos.harness import Kafka, say

    call_command("migrate", verbosity=0, interactive=False)
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir=ROOT / ".cache" if (ROOT / ".cache").is_dir() else None))
    say(f"seed {args.seed}; work directory {workdir}; cases {wanted}")
    ctx = cases.Context(base_env=base_env(), workdir=workdir, kafka=Kafka(settings.KAFKA_BOOTSTRAP_SERVERS), seed=args.seed)
    result: dict = {name: None for name in ("kill9_runs", "broker_restart", "postgres_outage", "poison_classes",
                                            "consumer_failover", "api_fuzz")}
    timings = {}
    started = time.monotonic()

    def timed(name, fn):
        t0 = time.monotonic()
        say(f"--- {name}")
        try:
            return fn()
        except Exception as exc:  # one broken case must not hide the others' figures
            say(f"{name} raised:\n{traceback.format_exc()}")
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            timings[name] = round(time.monotonic() - t0, 1)
            say(f"--- {name} took {timings[name]} s")

    try:
        if "poison_classes" in wanted:
            out = timed("poison_classes", lambda: cases.poison_case(ctx, fuzz={}))
            if isinstance(out, tuple):
                result["poison_classes"], result["api_fuzz"] = out
            else:
                result["poison_classes"] = out
        if "kill9_runs" in wanted:
            result["kill9_runs"] = timed("kill9_runs", lambda: cases.kill9_case(ctx, kills=args.kills))
        if "broker_restart" in wanted:
            result["broker_restart"] = timed("broker_restart", lambda: cases.broker_restart_case(ctx, down_seconds=args.broker_down))
        if "postgres_outage" in wanted:
            result["postgres_outage"] = timed("postgres_outage", lambda: cases.postgres_outage_case(ctx, down_seconds=args.postgres_down))
        if "consumer_failover" in wanted:
            result["consumer_failover"] = timed("consumer_failover", lambda: cases.failover_case(ctx))
    finally:
        ctx.cleanup()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    say(f"per-case seconds {timings}; total {time.monotonic() - started:.0f} s")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
