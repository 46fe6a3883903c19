"""Offline replay / backtest of a history through the detection core.

    python -m detection.replay --input FILE [--method zscore|cusum] [thresholds]
        (--baseline-mean M --baseline-std S [--baseline-autocorrelation RHO] | --baseline-fraction F)

``--method`` defaults to ``zscore`` (the seed rule), so existing invocations keep their meaning.
The threshold flags are the core's threshold fields (``Thresholds``) spelled with dashes;
``--target-false-alarms-per-100k``, ``--mean-shift-sigma``, ``--std-up-ratio`` and
``--std-down-ratio`` apply to ``cusum``.

Needs no Django, Kafka or database: the same pure core as the live detector
(:mod:`detection.core`), fed from a file in file order (as a Kafka partition would deliver it).

Input (``--format auto`` picks by extension, ``.csv`` / ``.jsonl`` / ``.ndjson`` / ``.json``,
else by the first character):

- CSV with a header containing ``value`` and ``event_time`` and optionally ``source_id`` and
  ``metric``; other columns are ignored (so the NAB series, ``idx,event_time,value,in_window``,
  work as they are).
- JSON lines, one event object per line (the Kafka payload format).

A row without a ``source_id`` / ``metric`` column or field gets ``--source-id`` (default: the
file's stem) / ``--metric`` (default ``value``). ``event_time`` must carry an offset, as on the
wire; ``--assume-utc`` accepts naive timestamps as UTC (histories exported without an offset,
like NAB). Invalid rows are counted by reason and skipped, never fatal.

Baselines: ``--baseline-mean``/``--baseline-std`` (and optionally ``--baseline-autocorrelation``)
for every key, or ``--baseline-fraction F``: each key's baseline is the (count, mean, sample std,
lag-1 autocorrelation in event-time order) of its first ``floor(F * n)`` valid events
in file order (``n`` = the key's valid events; the file is read twice). Those events only build
the baseline: they are not fed to the detector, which starts on the rest with an empty window.

Output: one JSON object per transition on stdout (``drift_event_id``, ``source_id``, ``metric``,
``event_type``, ``event_time`` as ISO-8601 UTC, ``rolling_mean``, ``rolling_std``,
``rolling_count``, ``baseline_mean``, ``baseline_std``, ``z_score``, ``std_ratio``,
``trigger_event_id``, ``config_version``, ``method``, ``statistic_name``, ``statistic``,
``threshold``, and for cusum ``cusum_statistics`` / ``cusum_thresholds``: mean_up, mean_down,
std_up, std_down); one JSON summary line on stderr (``read``,
``accepted``, ``baseline_events``, ``invalid``, ``invalid_reasons``, ``late``, ``duplicate``,
``transitions``, ``drift_start``, ``drift_end``, ``keys``, ``elapsed_s``, ``events_per_s``).
Exit status 0, or 2 for bad arguments / an unreadable input.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
import csv
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson

from detection.core.config import METHODS, THRESHOLD_FIELDS, Baseline, Thresholds
from detection.core.detector import KeyedDetector, Transition
from detection.core.events import DEFAULT_MAX_BYTES, Event, InvalidEvent, ms_to_iso, parse_event
from detection.core.autocorrelation import lag_one_autocorrelation
from detection.core.moments import Moments

# One item per data row: an Event or the InvalidEvent it raised.
Parsed = Event | InvalidEvent


def number(text: str) -> float:
    """A finite float (argparse names the type "number" in its errors)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m detection.replay",
        description="Replay a history (CSV or JSON lines) through the drift detection core; "
        "transitions as JSON lines on stdout, a JSON summary on stderr.",
    )
    parser.add_argument("--input", required=True, type=Path, help="CSV or JSON-lines file")
    parser.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto", help="input format (default: auto)")
    parser.add_argument("--source-id", default=None, help="source_id for rows without one (default: the file's stem)")
    parser.add_argument("--metric", default="value", help="metric for rows without one (default: %(default)s)")
    parser.add_argument("--assume-utc", action="store_true", help="accept timestamps without an offset as UTC")
    th = parser.add_argument_group("thresholds")
    th.add_argument("--window-seconds", type=number, default=300.0, help="default: %(default)s")
    th.add_argument("--min-samples", type=int, default=30, help="default: %(default)s")
    th.add_argument("--z-threshold", type=number, default=3.0, help="default: %(default)s")
    th.add_argument("--std-ratio-threshold", type=number, default=2.0, help="default: %(default)s")
    th.add_argument("--enter-hits", type=int, default=3, help="default: %(default)s")
    th.add_argument("--exit-hits", type=int, default=3, help="default: %(default)s")
    th.add_argument("--allowed-lateness-seconds", type=number, default=0.0, help="default: %(default)s")
    th.add_argument("--method", choices=METHODS, default="zscore", help="detection method (default: %(default)s)")
    th.add_argument("--target-false-alarms-per-100k", type=number, default=0.5, help="cusum (default: %(default)s)")
    th.add_argument("--mean-shift-sigma", type=number, default=1.0, help="cusum (default: %(default)s)")
    th.add_argument("--std-up-ratio", type=number, default=2.0, help="cusum (default: %(default)s)")
    th.add_argument("--std-down-ratio", type=number, default=0.5, help="cusum (default: %(default)s)")
    # A threshold field without a flag of its own above gets one derived from Thresholds.
    declared = {action.dest for action in th._group_actions}
    for f in dataclass_fields(Thresholds):
        if f.init and f.name in THRESHOLD_FIELDS and f.name not in declared and f.default is not MISSING:
            kind = int if f.type == "int" else (str if f.type == "str" else number)
            th.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help="default: %(default)s")
    th.add_argument("--config-version", type=int, default=0, help="copied to transitions (default: %(default)s)")
    base = parser.add_argument_group("baseline (one of)")
    base.add_argument("--baseline-mean", type=number, help="baseline mean for every key")
    base.add_argument("--baseline-std", type=number, help="baseline sample std for every key")
    base.add_argument(
        "--baseline-autocorrelation",
        type=number,
        help="with --baseline-mean/--baseline-std: the baseline's lag-1 autocorrelation (default: none)",
    )
    base.add_argument(
        "--baseline-fraction",
        type=fraction,
        help="per key: baseline from its first F share of events, which are then not evaluated",
    )
    return parser


def _detect_format(path: Path, forced: str) -> str:
    if forced != "auto":
        return forced
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    return "jsonl" if head.startswith(b"{") else "csv"


def _csv_rows(path: Path, default_source_id: str, default_metric: str, assume_utc: bool) -> Iterator[Parsed]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = {"value", "event_time"} - set(columns)
        if missing:
            raise ValueError(f"CSV header lacks column(s) {sorted(missing)}: {columns}")
        for row in reader:
            fields: dict = {
                "source_id": row["source_id"] if "source_id" in row else default_source_id,
                "metric": row["metric"] if "metric" in row else default_metric,
                "event_time": row["event_time"] or None,
            }
            text = (row["value"] or "").strip()
            if not text:
                yield InvalidEvent("missing_field:value", "value is empty")
                continue
            try:
                fields["value"] = float(text)
            except ValueError:
                yield InvalidEvent("not_a_number", f"value is not a number: {text[:32]!r}")
                continue
            try:
                yield parse_event(fields, now_ms=None, max_future_skew_ms=0, assume_utc=assume_utc)
            except InvalidEvent as exc:
                yield exc


def _jsonl_rows(path: Path, default_source_id: str, default_metric: str, assume_utc: bool) -> Iterator[Parsed]:
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                if len(line) > DEFAULT_MAX_BYTES:
                    raise InvalidEvent("too_large", f"line is {len(line)} bytes")
                try:
                    fields = orjson.loads(line)
                except orjson.JSONDecodeError:
                    # Let the parser give the precise reason (not_json, not_finite, ...).
                    yield parse_event(line, now_ms=None, max_future_skew_ms=0, assume_utc=assume_utc)
                    continue
                if isinstance(fields, dict):
                    fields.setdefault("source_id", default_source_id)
                    fields.setdefault("metric", default_metric)
                yield parse_event(fields, now_ms=None, max_future_skew_ms=0, assume_utc=assume_utc)
            except InvalidEvent as exc:
                yield exc


def transition_json(tr: Transition) -> bytes:
    return orjson.dumps(
        {
            "drift_event_id": tr.drift_event_id,
            "source_id": tr.source_id,
            "metric": tr.metric,
            "event_type": tr.event_type,
            "event_time": ms_to_iso(tr.event_time_ms),
            "rolling_mean": tr.rolling_mean,
            "rolling_std": tr.rolling_std,
            "rolling_count": tr.rolling_count,
            "baseline_mean": tr.baseline_mean,
            "baseline_std": tr.baseline_std,
            "z_score": tr.z_score,
            "std_ratio": tr.std_ratio,
            "trigger_event_id": tr.trigger_event_id,
            "config_version": tr.config_version,
            "method": tr.method,
            "statistic_name": tr.statistic_name,
            "statistic": tr.statistic,
            "threshold": tr.threshold,
            "cusum_statistics": tr.cusum_statistics,
            "cusum_thresholds": tr.cusum_thresholds,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    fixed = args.baseline_mean is not None or args.baseline_std is not None
    if fixed and args.baseline_fraction is not None:
        parser.error("use either --baseline-mean/--baseline-std or --baseline-fraction, not both")
    if not fixed and args.baseline_fraction is None:
        parser.error("a baseline is required: --baseline-mean and --baseline-std, or --baseline-fraction")
    if fixed and (args.baseline_mean is None or args.baseline_std is None):
        parser.error("--baseline-mean and --baseline-std go together")
    if fixed and args.baseline_std < 0:
        parser.error(f"--baseline-std must be >= 0, got {args.baseline_std}")
    if args.baseline_autocorrelation is not None:
        if not fixed:
            parser.error("--baseline-autocorrelation goes with --baseline-mean/--baseline-std "
                         "(--baseline-fraction computes it)")
        if not -1.0 <= args.baseline_autocorrelation <= 1.0:
            parser.error(f"--baseline-autocorrelation must be in [-1, 1], got {args.baseline_autocorrelation}")
    try:
        # The flags are the core's threshold fields, spelled with dashes.
        thresholds = Thresholds(**{name: getattr(args, name) for name in THRESHOLD_FIELDS}, version=args.config_version)
    except ValueError as exc:  # "<field> must be ...": name the flag instead of the field
        field, _, rest = str(exc).partition(" ")
        parser.error(f"--{field.replace('_', '-')} {rest}")
    path: Path = args.input
    if not path.is_file():
        parser.error(f"--input {path}: no such file")
    source_id = args.source_id if args.source_id is not None else path.stem
    try:
        fmt = _detect_format(path, args.format)
        rows_of = _csv_rows if fmt == "csv" else _jsonl_rows

        def rows() -> Iterator[Parsed]:
            return rows_of(path, source_id, args.metric, args.assume_utc)

        return _run(args, thresholds, rows)
    except (OSError, ValueError) as exc:
        parser.error(f"--input {path}: {exc}")
    return 2  # pragma: no cover - parser.error exits


def _run(args: argparse.Namespace, thresholds: Thresholds, rows) -> int:
    started = time.perf_counter()
    baselines: dict[tuple[str, str], Baseline | None] = {}
    share: dict[tuple[str, str], int] = {}
    if args.baseline_fraction is not None:
        totals: Counter = Counter()
        for item in rows():
            if type(item) is Event:
                totals[(item.source_id, item.metric)] += 1
        share = {key: int(args.baseline_fraction * n) for key, n in totals.items()}
        fixed_baseline = None
    else:
        fixed_baseline = Baseline(
            mean=args.baseline_mean, std=args.baseline_std, count=0, autocorrelation=args.baseline_autocorrelation
        )  # count unknown

    def baseline_for(source_id: str, metric: str) -> Baseline | None:
        if fixed_baseline is not None:
            return fixed_baseline
        return baselines.get((source_id, metric))

    detector = KeyedDetector(lambda s, m: thresholds, baseline_for)
    update = detector.update
    out = sys.stdout.buffer
    read = 0
    baseline_events = 0
    invalid: Counter = Counter()
    building: dict[tuple[str, str], Moments] = {}
    lags: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for item in rows():
        read += 1
        if type(item) is not Event:
            invalid[item.reason] += 1
            continue
        if share:
            key = (item.source_id, item.metric)
            needed = share.get(key, 0)
            if needed:
                moments = building.get(key)
                if moments is None:
                    moments = building[key] = Moments()
                moments.add(item.value)
                # Kept only for the autocorrelation, which needs the values in event-time order.
                lags.setdefault(key, []).append((item.event_time_ms, item.value))
                baseline_events += 1
                if moments.count >= needed:
                    ordered = [x for _, x in sorted(lags.pop(key), key=lambda tx: tx[0])]
                    baselines[key] = Baseline(
                        mean=moments.mean, std=moments.std, count=moments.count,
                        autocorrelation=lag_one_autocorrelation(ordered),
                    )
                    share[key] = 0
                continue
        outcome = update(item)
        if outcome.transition is not None:
            out.write(transition_json(outcome.transition) + b"\n")
    out.flush()
    elapsed = time.perf_counter() - started
    counters = detector.counters
    summary = {
        "read": read,
        "accepted": counters["accepted"],
        "baseline_events": baseline_events,
        "invalid": sum(invalid.values()),
        "invalid_reasons": dict(sorted(invalid.items())),
        "late": counters["late"],
        "duplicate": counters["duplicate"],
        "transitions": counters["transitions"],
        "drift_start": counters["drift_start"],
        "drift_end": counters["drift_end"],
        "keys": detector.key_count,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(read / elapsed) if elapsed > 0 else None,
    }
    sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
