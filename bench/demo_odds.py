"""How often does the demo see a false start? ``python -m bench.demo_odds [--kind dynamic] [--runs 200]``

Replays the producers' own signals (:mod:`producers.signals`, seed 42, as ``run_producer``
uses) offline through the pure detector with the demo's threshold row
(``config_app.services.thresholds.DEMO_THRESHOLDS``): per run a random start time, a baseline
(mean, sample std, lag-1 autocorrelation, count) from ``--backfill`` seconds before it, as the
demo's back-fill and first fold give, then ``--live`` seconds of live events at ``--rate`` per
key, with the window already full. No effect is injected, so every DRIFT_START is a false start.
Baselines are not refolded during the live part (the stack folds every 60 s; with 600 s of
history that moves them little).

``--set field=value`` overrides a field of the row (e.g. ``--set mean_shift_sigma=2``).
Progress on stderr; the last line is JSON: runs, runs with a false start, starts, and per start
the statistic that crossed and its ratio to the threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_odds", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("stable", "dynamic", "drift"), default="dynamic")
    parser.add_argument("--method", choices=("cusum", "zscore"), default="cusum")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backfill", type=float, default=600.0, help="seconds of history for the baseline")
    parser.add_argument("--live", type=float, default=180.0, help="seconds of live events (make demo: 180)")
    parser.add_argument("--rate", type=float, default=5.0, help="events per second per key")
    parser.add_argument("--sources", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="seed of the start times")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
    import django

    django.setup()
    from config_app.services.thresholds import DEMO_THRESHOLDS
    from detection.core.autocorrelation import lag_one_autocorrelation
    from detection.core.config import Baseline, Thresholds
    from detection.core.detector import KeyedDetector
    from detection.core.events import make_event
    from producers.runner import source_ids_for
    from producers.signals import make_signal

    row = dict(DEMO_THRESHOLDS[args.method])
    for item in args.set:
        field, _, value = item.partition("=")
        if field not in row:
            parser.error(f"--set: unknown field {field!r}")
        row[field] = type(row[field])(value) if not isinstance(row[field], str) else value
    thresholds = Thresholds(**row, version=1)
    signal = make_signal(args.kind, 42)
    keys = [(s, m) for s in source_ids_for(args.kind, args.sources) for m in ("cpu", "latency_ms")]
    step = round(1000 / args.rate)
    rng = random.Random(args.seed)
    starts: list[dict] = []
    runs_with_start = 0
    for run in range(args.runs):
        t0 = 1_764_000_000_000 + rng.randrange(0, 86_400) * 1000
        baselines = {}
        for key in keys:
            values = [signal.value_at(*key, t) for t in range(t0 - round(args.backfill * 1000), t0, step)]
            baselines[key] = Baseline(mean=statistics.fmean(values), std=statistics.stdev(values), count=len(values),
                                      autocorrelation=lag_one_autocorrelation(values))
        detector = KeyedDetector(lambda s, m: thresholds, lambda s, m: baselines[(s, m)])
        found = 0
        for t in range(t0 - thresholds.window_ms, t0 + round(args.live * 1000), step):
            for key in keys:
                transition = detector.update(make_event(*key, signal.value_at(*key, t), t)).transition
                if transition is not None and transition.event_type == "DRIFT_START" and t >= t0:
                    found += 1
                    starts.append({"run": run, "key": "/".join(key), "statistic": transition.statistic_name,
                                   "over_threshold": round(transition.statistic / transition.threshold, 2)})
        runs_with_start += found > 0
        if (run + 1) % 20 == 0:
            print(f"{run + 1}/{args.runs} runs, {runs_with_start} with a false start", file=sys.stderr, flush=True)
    print(json.dumps({"kind": args.kind, "method": args.method, "thresholds": row, "backfill_s": args.backfill,
                      "live_s": args.live, "runs": args.runs, "runs_with_false_start": runs_with_start,
                      "false_starts": len(starts), "starts": starts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
