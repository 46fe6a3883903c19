"""Detection quality benchmark: ``python -m bench.quality`` (``make bench-quality``).

Scores, in one run, the two methods of the core (``zscore``, the seed rule, and ``cusum``) and
river's ADWIN, PageHinkley and KSWIN (default parameters, fed u = (x - mean_b) / std_b, one
``update`` per sample; each ``drift_detected`` counts as a DRIFT_START):

- **synthetic**, seeds 0-9: per seed and change, 20,000 N(0,1) samples then 5,000 changed
  samples, one sample per second of event time. The baseline is the mean, sample std and lag-1
  autocorrelation of the first 15 % of the series; the detectors see the rest (as
  ``python -m detection.replay --baseline-fraction 0.15`` does). Changes: mean +1 sigma, mean
  +3 sigma, std x2, std x0.5, and a ramp of the mean from 0 to +2 sigma over 2,000 samples,
  then held. Per change: detected/10 (a DRIFT_START at or after the change) and the median
  delay in samples (first DRIFT_START at or after the change, minus the change's index).
  Plus a **control** of 200,000 unchanged samples per seed: DRIFT_STARTs per 100,000 samples
  fed to the detector.
- **NAB** (``../shared/nab`` relative to the repository, 7 labelled real series; missing ->
  exit 2): baseline from the first 15 % of each series, detections there ignored (not fed);
  one sample per second of event time (the series' own spacing, 5-60 minutes, would leave the
  windows of the thresholds below empty). Hit rate = labelled windows with a DRIFT_START
  inside them / all windows; outside = DRIFT_STARTs outside every window per 1,000 fed samples.

Thresholds of both methods: window 60 s, min_samples 10, allowed lateness 0; zscore
z > 3, ratio 2, N 3, M 3 (the core benchmark's); cusum target 0.5 per 100,000 evaluations,
d = 1, k_up = 2, k_down = 0.5, N 1, M 3.

Progress on stderr; the LAST line of stdout is one JSON object with every figure.
``--calibrate`` instead measures the constants C of :mod:`detection.core.cusum` (alarm rate x
e^h of the iid CUSUMs, numpy, ~1 minute) and prints them as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector
from detection.core.events import Event, event_id_for

REPO = Path(__file__).resolve().parent.parent
NAB_DIR = REPO.parent / "shared" / "nab"

SEEDS = range(10)
PRE, POST, CONTROL = 20_000, 5_000, 200_000
BASELINE_FRACTION = 0.15
RAMP = 2_000
CHANGES = ("mean_plus_1sigma", "mean_plus_3sigma", "std_x2", "std_x0_5", "ramp_0_to_2sigma")
T0_MS = 1_704_067_200_000

COMMON = dict(window_seconds=60, min_samples=10, allowed_lateness_seconds=0, z_threshold=3.0, std_ratio_threshold=2.0)
METHOD_THRESHOLDS = {
    "zscore": Thresholds(**COMMON, enter_hits=3, exit_hits=3, method="zscore"),
    "cusum": Thresholds(**COMMON, enter_hits=1, exit_hits=3, method="cusum", target_false_alarms_per_100k=0.5),
}
RIVER = ("ADWIN", "PageHinkley", "KSWIN")
# KSWIN runs a Kolmogorov-Smirnov test per sample (~0.3 ms): over the full protocol it alone
# would take ~15 minutes. Its state is its last 100 samples, so on the change series it is fed
# from KSWIN_WARMUP samples before the change (statistically the same run), and its control
# uses the first KSWIN_CONTROL samples after the baseline part of each seed's control series (its false-alarm rate is
# high enough to be measured on 10 x 10,000 samples). On a change series every river detector
# stops at its first detection at or after the change (all that is scored there). The core's
# methods get every sample.
KSWIN_WARMUP = 1_000
KSWIN_CONTROL = 10_000


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lag1_autocorrelation(x: np.ndarray) -> float:
    """Lag-1 autocorrelation as the baseline fold stores it: sum of products of consecutive
    deviations from the mean over the sum of squared deviations."""
    d = x - x.mean()
    denom = float(np.dot(d, d))
    return float(np.dot(d[:-1], d[1:]) / denom) if denom > 0 else 0.0


def baseline_of(x: np.ndarray) -> Baseline:
    return Baseline(mean=float(x.mean()), std=float(x.std(ddof=1)), count=len(x), autocorrelation=lag1_autocorrelation(x))


def synthetic(seed: int, change: str) -> np.ndarray:
    rng = np.random.default_rng([seed, CHANGES.index(change)])
    x = rng.standard_normal(PRE + POST)
    tail = x[PRE:]
    if change == "mean_plus_1sigma":
        tail += 1.0
    elif change == "mean_plus_3sigma":
        tail += 3.0
    elif change == "std_x2":
        tail *= 2.0
    elif change == "std_x0_5":
        tail *= 0.5
    else:
        tail += np.minimum(np.arange(POST) / RAMP, 1.0) * 2.0
    return x


def control(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 99]).standard_normal(CONTROL)


def starts_core(x: np.ndarray, method: str) -> tuple[list[int], int]:
    """Indices of DRIFT_STARTs (in the full series) and the number of samples fed."""
    skip = int(BASELINE_FRACTION * len(x))
    baseline = baseline_of(x[:skip])
    th = METHOD_THRESHOLDS[method]
    detector = KeyedDetector(lambda s, m: th, lambda s, m: baseline)
    update = detector.update
    out = []
    values = x.tolist()
    for i in range(skip, len(values)):
        v = values[i]
        t = T0_MS + 1000 * i
        tr = update(Event("k", "m", v, t, event_id_for("k", "m", v, t))).transition
        if tr is not None and tr.event_type == "DRIFT_START":
            out.append(i)
    return out, len(values) - skip


def starts_river(x: np.ndarray, name: str, seed: int, start: int | None = None, stop: int | None = None,
                 until_detected_after: int | None = None) -> tuple[list[int], int]:
    """Like :func:`starts_core`; ``start``/``stop`` limit the fed part (KSWIN, see KSWIN_WARMUP)."""
    from river import drift  # dev-only dependency

    skip = int(BASELINE_FRACTION * len(x))
    baseline = baseline_of(x[:skip])
    kwargs = {"seed": seed} if name == "KSWIN" else {}
    detector = getattr(drift, name)(**kwargs)
    first = max(skip, start or 0)
    u = ((x[first:stop] - baseline.mean) / baseline.std).tolist()
    out = []
    update = detector.update
    for j, v in enumerate(u):
        update(v)
        if detector.drift_detected:
            out.append(first + j)
            if until_detected_after is not None and first + j >= until_detected_after:
                break
    return out, len(u)


def run_detector(x: np.ndarray, name: str, seed: int, kind: str = "nab") -> tuple[list[int], int]:
    if name in METHOD_THRESHOLDS:
        return starts_core(x, name)
    if kind == "change":
        start = PRE - KSWIN_WARMUP if name == "KSWIN" else None
        return starts_river(x, name, seed, start=start, until_detected_after=PRE)
    if name == "KSWIN" and kind == "control":
        return starts_river(x, name, seed, stop=int(BASELINE_FRACTION * len(x)) + KSWIN_CONTROL)
    return starts_river(x, name, seed)


def nab_series() -> list[tuple[str, np.ndarray, list[tuple[int, int]]]]:
    labels_path = NAB_DIR / "labels.json"
    if not labels_path.is_file():
        raise FileNotFoundError(f"NAB data not found at {NAB_DIR} (expected ../shared/nab relative to the repository)")
    labels = json.loads(labels_path.read_text())
    out = []
    for name, entry in labels.items():
        if name.startswith("_"):
            continue
        path = NAB_DIR / entry["file"]
        with path.open(newline="") as fh:
            values = np.array([float(row["value"]) for row in csv.DictReader(fh)])
        if len(values) != entry["n"]:
            raise ValueError(f"{path}: {len(values)} rows, labels.json says {entry['n']}")
        out.append((name, values, [(w["start_idx"], w["end_idx"]) for w in entry["windows"]]))
    return out


def score_synthetic(names: list[str]) -> dict:
    result: dict = {}
    for name in names:
        started = time.perf_counter()
        per: dict = {}
        for change in CHANGES:
            delays = []
            for seed in SEEDS:
                starts, _ = run_detector(synthetic(seed, change), name, seed, "change")
                after = [i for i in starts if i >= PRE]
                if after:
                    delays.append(after[0] - PRE)
            per[change] = {
                "detected": len(delays),
                "median_delay": statistics.median(delays) if delays else None,
            }
        alarms = fed = 0
        for seed in SEEDS:
            starts, n = run_detector(control(seed), name, seed, "control")
            alarms += len(starts)
            fed += n
        per["control_starts_per_100k"] = round(alarms * 100_000 / fed, 3)
        per["control_starts"] = alarms
        result[name] = per
        progress(f"synthetic {name}: {json.dumps(per)} ({time.perf_counter() - started:.0f} s)")
    return result


def score_nab(names: list[str]) -> dict:
    series = nab_series()
    result = {}
    for name in names:
        hits = windows = outside = fed_total = 0
        for idx, (series_name, values, labelled) in enumerate(series):
            starts, fed = run_detector(values, name, idx)
            fed_total += fed
            skip = int(BASELINE_FRACTION * len(values))
            for lo, hi in labelled:
                if hi < skip:
                    continue
                windows += 1
                hits += any(lo <= i <= hi for i in starts)
            outside += sum(1 for i in starts if not any(lo <= i <= hi for lo, hi in labelled))
        result[name] = {
            "hit_rate": round(hits / windows, 3) if windows else None,
            "windows_hit": hits,
            "windows": windows,
            "outside_starts_per_1000": round(outside * 1000 / fed_total, 3),
        }
        progress(f"NAB {name}: {json.dumps(result[name])}")
    return result


def calibrate() -> dict:
    """Alarm rate x e^h of the four iid CUSUMs at the default parameters (restart at 0 on alarm)."""
    rng = np.random.default_rng(1)
    chains, steps = 20_000, 20_000
    incs = {
        "mean_up": lambda u: u - 0.5,
        "std_up": lambda u: 0.375 * u * u - math.log(2.0),
        "std_down": lambda u: math.log(2.0) - 1.5 * u * u,
    }
    out = {}
    for name, inc in incs.items():
        for h in (5.0, 7.0, 9.0):
            s = np.zeros(chains)
            alarms = 0
            for _ in range(steps):
                s = np.maximum(0.0, s + inc(rng.standard_normal(chains)))
                hit = s > h
                alarms += int(hit.sum())
                s[hit] = 0.0
            rate = alarms / (chains * steps)
            out[f"{name}_h{h:g}"] = round(rate * math.exp(h), 4)
            progress(f"calibrate {name} h={h:g}: rate {rate:.3g}, C = {rate * math.exp(h):.4f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", default=["zscore", "cusum", *RIVER],
                        choices=["zscore", "cusum", *RIVER], help="default: all")
    parser.add_argument("--skip-nab", action="store_true", help="synthetic suite only")
    parser.add_argument("--calibrate", action="store_true", help="measure the cusum constants instead")
    args = parser.parse_args(argv)
    if args.calibrate:
        print(json.dumps(calibrate()), flush=True)
        return 0
    if not args.skip_nab and not (NAB_DIR / "labels.json").is_file():
        progress(f"error: NAB data not found at {NAB_DIR} (expected ../shared/nab relative to the repository)")
        return 2
    started = time.perf_counter()
    result: dict = {"synthetic": score_synthetic(args.detectors)}
    if not args.skip_nab:
        result["nab"] = score_nab(args.detectors)
    result["cusum_thresholds"] = {
        "target_false_alarms_per_100k": METHOD_THRESHOLDS["cusum"].target_false_alarms_per_100k,
    }
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
