"""Detection quality against ground truth (pure: plain values in, a report out).

Matching rules (documented in the README):

- An **injected drift** is one scenario target: a key, and the wall-clock times its start and
  stop commands were acknowledged (``actual_start``/``actual_end``; a target whose stop was
  never sent is open-ended).
- It is **detected** by the first ``DRIFT_START`` of the same key whose event time lies in
  ``[actual_start, actual_end + grace]``. ``grace`` covers the window still holding drifted
  events after the stop. The **delay** is the transition's event time minus ``actual_start``
  (producers stamp events with the wall clock, so this is the time from injection to the event
  that triggered the detection; the detection wall-clock time is reported beside it).
- A further ``DRIFT_START`` of the same key inside that interval (the detector ended the drift
  and started it again while it was still injected) is a **repeated start**: reported, but not
  a false start, since a drift was injected.
- Every other ``DRIFT_START`` is a **false start** (whatever the key's producer kind).
  A ``DRIFT_START`` of a target key before ``actual_start`` is a false start too.

>>> truth = [InjectedDrift("d-1", "cpu", "drift", "mean_shift", 4.0, 1_000, 61_000)]
>>> starts = [DetectedStart("d-1", "cpu", 9_000, 9_300), DetectedStart("s-1", "cpu", 20_000, 20_100)]
>>> report = evaluate(truth, starts, source_types={"s-1": "stable", "d-1": "drift"}, grace_ms=30_000)
>>> report.totals()["detected"], report.totals()["false_starts"], report.totals()["median_delay_seconds"]
(1, 1, 8.0)
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class InjectedDrift:
    source_id: str
    metric: str
    source_type: str
    kind: str
    magnitude: float
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True)
class DetectedStart:
    source_id: str
    metric: str
    event_time_ms: int
    detected_at_ms: int


@dataclass
class DriftOutcome:
    drift: InjectedDrift
    detected: bool
    delay_seconds: float | None = None
    detection_lag_seconds: float | None = None  # detected_at - actual_start (wall clock)


@dataclass
class Report:
    outcomes: list[DriftOutcome]
    false_starts: list[tuple[DetectedStart, str]]  # (start, source type)
    repeated_starts: list[DetectedStart] = field(default_factory=list)
    events_produced: int | None = None
    events_processed: int | None = None
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def totals(self) -> dict:
        delays = [o.delay_seconds for o in self.outcomes if o.detected]
        detected = sum(o.detected for o in self.outcomes)
        return {
            "injected": len(self.outcomes),
            "detected": detected,
            "missed": len(self.outcomes) - detected,
            "false_starts": len(self.false_starts),
            "repeated_starts": len(self.repeated_starts),
            "median_delay_seconds": round(statistics.median(delays), 3) if delays else None,
            "events_produced": self.events_produced,
            "events_processed": self.events_processed,
        }

    def as_dict(self) -> dict:
        return {
            "totals": self.totals(),
            "by_source_type": self.by_kind,
            "injected": [
                {**asdict(o.drift), "detected": o.detected, "delay_seconds": o.delay_seconds,
                 "detection_lag_seconds": o.detection_lag_seconds}
                for o in self.outcomes
            ],
            "false_starts": [{**asdict(s), "source_type": t} for s, t in self.false_starts],
            "repeated_starts": [asdict(s) for s in self.repeated_starts],
        }


def evaluate(
    injected: list[InjectedDrift],
    starts: list[DetectedStart],
    *,
    source_types: dict[str, str],
    grace_ms: int,
    false_starts_before_ms: int | None = None,
) -> Report:
    """Match ``starts`` to ``injected`` (rules in the module docstring).

    ``starts`` may extend past the report's range (so a drift injected near its end can still
    be matched); unmatched starts at or after ``false_starts_before_ms`` are not reported.
    """
    starts = sorted(starts, key=lambda s: (s.event_time_ms, s.source_id, s.metric))
    used: set[int] = set()
    repeated: set[int] = set()
    outcomes = []
    for drift in sorted(injected, key=lambda d: (d.start_ms, d.source_id, d.metric)):
        end = None if drift.end_ms is None else drift.end_ms + grace_ms
        inside = [
            i for i, start in enumerate(starts)
            if i not in used and (start.source_id, start.metric) == (drift.source_id, drift.metric)
            and start.event_time_ms >= drift.start_ms and (end is None or start.event_time_ms <= end)
        ]
        match = inside[0] if inside else None
        repeated.update(inside[1:])
        used.update(inside[1:])
        if match is None:
            outcomes.append(DriftOutcome(drift, detected=False))
        else:
            used.add(match)
            start = starts[match]
            outcomes.append(DriftOutcome(
                drift, detected=True,
                delay_seconds=(start.event_time_ms - drift.start_ms) / 1000.0,
                detection_lag_seconds=(start.detected_at_ms - drift.start_ms) / 1000.0,
            ))
    false_starts = [
        (s, source_types.get(s.source_id, "other"))
        for i, s in enumerate(starts)
        if i not in used and (false_starts_before_ms is None or s.event_time_ms < false_starts_before_ms)
    ]
    by_kind: dict[str, dict[str, int]] = {
        kind: {"injected": 0, "detected": 0, "missed": 0, "false_starts": 0} for kind in sorted(set(source_types.values()))
    }
    for o in outcomes:
        row = by_kind.setdefault(o.drift.source_type, {"injected": 0, "detected": 0, "missed": 0, "false_starts": 0})
        row["injected"] += 1
        row["detected" if o.detected else "missed"] += 1
    for _, kind in false_starts:
        row = by_kind.setdefault(kind, {"injected": 0, "detected": 0, "missed": 0, "false_starts": 0})
        row["false_starts"] += 1
    return Report(outcomes=outcomes, false_starts=false_starts, by_kind=by_kind,
                  repeated_starts=[starts[i] for i in sorted(repeated)])


def format_report(data: dict) -> list[str]:
    """Human-readable lines of :meth:`Report.as_dict` (the demo and the command print them)."""
    lines = ["injected drifts:"]
    for d in data["injected"]:
        verdict = (f"detected after {d['delay_seconds']:.1f} s (event time; wall clock {d['detection_lag_seconds']:.1f} s)"
                   if d["detected"] else "MISSED")
        lines.append(f"  {d['source_type']:8} {d['source_id']}/{d['metric']} {d['kind']} x{d['magnitude']:g}: {verdict}")
    if not data["injected"]:
        lines.append("  (none in this range)")
    if data.get("repeated_starts"):
        lines.append(f"repeated starts during an injected drift (flapping): {len(data['repeated_starts'])}")
    lines.append(f"false starts: {len(data['false_starts'])}")
    for f in data["false_starts"]:
        lines.append(f"  {f['source_type']:8} {f['source_id']}/{f['metric']} at {f['event_time_ms']}")
    lines.append("per producer kind:")
    for kind, row in sorted(data["by_source_type"].items()):
        lines.append(f"  {kind:8} injected {row['injected']} detected {row['detected']} missed {row['missed']} "
                     f"false starts {row['false_starts']}")
    return lines
