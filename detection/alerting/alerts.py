"""Drift state -> Alertmanager alerts: the pure part of the notifier (no I/O, no Django).

The notifier is level-triggered, as Prometheus is: on every evaluation it reads the current
state and turns it into the full list of alerts to post to Alertmanager's ``/api/v2/alerts``:

- every key that is ``DRIFTING`` in ``drift_status_current`` is a **firing** alert whose
  ``startsAt`` is the DRIFT_START event time (the row's ``state_since``) and whose ``endsAt`` is
  ``now + 4 x resend interval``: if the notifier dies, Alertmanager resolves the alert by itself
  once it stops being re-sent (Prometheus does the same);
- every key whose latest transition is a DRIFT_END detected within the last
  :data:`RESOLVED_RETENTION_SECONDS` is a **resolved** alert with ``endsAt`` = the DRIFT_END
  event time. Like Prometheus (which keeps re-sending resolved alerts for 15 minutes), it is
  re-sent for that long, so an Alertmanager that was down or restarted still learns that it
  ended, and a restarted notifier needs no memory of what it sent;
- a key this notifier sent as firing that is neither DRIFTING nor recently ended (its state
  was reset, its threshold row disabled) is resolved with ``endsAt`` = now, once.

Alertmanager identifies an alert by its labels, so the labels are exactly the key and its
routing attributes; everything that changes while a drift lasts is an annotation. Times sent
are never after ``now`` (an event clock ahead of the wall clock must not make Alertmanager
reject the alert: it requires ``startsAt <= endsAt``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

ALERTNAME = "MetricDrift"
# Prometheus's resolvedRetention: resolved alerts are re-sent for this long after the end.
RESOLVED_RETENTION_SECONDS = 15 * 60
# Prometheus sets endsAt = now + 4 x max(evaluation interval, resend delay) on firing alerts.
ENDS_AT_RESEND_FACTOR = 4
DEFAULT_SEVERITY = "warning"
DEFAULT_SOURCE_TYPE = "other"

Key = tuple[str, str]


def key_method(row: Mapping[str, Any]) -> str:
    """The detection method of a status or event row: its ``method`` column when the table has
    one, else ``zscore`` (the only method before the column existed)."""
    return str(row.get("method") or "zscore")


@dataclass(frozen=True)
class KeyContext:
    """What the configuration says about a key (PostgreSQL, resolved by the caller)."""

    severity: str = DEFAULT_SEVERITY
    source_type: str = DEFAULT_SOURCE_TYPE
    z_threshold: float | None = None
    std_ratio_threshold: float | None = None


@dataclass(frozen=True)
class AlertPlan:
    """What to post now, and the keys it reports as firing (with their ``startsAt``)."""

    alerts: list[dict[str, Any]]
    firing: dict[Key, datetime]
    # keys resolved only because this notifier had sent them as firing: kept until delivered
    orphans: dict[Key, datetime] = field(default_factory=dict)

    @property
    def signature(self) -> frozenset:
        """Changes when an alert starts, ends or changes its start: a reason to send at once."""
        return frozenset(
            (a["labels"]["source_id"], a["labels"]["metric"], a["startsAt"], a["_resolved"]) for a in self.alerts
        )

    def payload(self) -> list[dict[str, Any]]:
        """The JSON body for POST /api/v2/alerts (internal markers removed)."""
        return [{k: v for k, v in a.items() if not k.startswith("_")} for a in self.alerts]


def rfc3339(value: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix (Alertmanager parses RFC 3339)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}" if math.isfinite(number) else "n/a"


def dashboard_key_url(dashboard_url: str, source_id: str, metric: str) -> str:
    """The dashboard's page of one key (``/dashboard/key/<source_id>/<metric>/``)."""
    return f"{dashboard_url.rstrip('/')}/dashboard/key/{quote(source_id, safe='')}/{quote(metric, safe='')}/"


def method_statistic(row: Mapping[str, Any], method: str, context: KeyContext) -> tuple[str, str]:
    """(statistic, threshold) as text for the method that decided the drift."""
    if method == "zscore":
        statistic = f"z={_num(row.get('z_score'))} std_ratio={_num(row.get('std_ratio'))}"
        if context.z_threshold is None or context.std_ratio_threshold is None:
            return statistic, "n/a"
        ratio = context.std_ratio_threshold
        return statistic, f"z > {_num(context.z_threshold)} or std_ratio outside [{_num(1 / ratio)}, {_num(ratio)}]"
    # Other methods name their statistic and threshold in the row when they have them.
    return _num(row.get("statistic")), _num(row.get("threshold"))


def _alert(row: Mapping[str, Any], context: KeyContext, *, dashboard_url: str, starts_at: datetime,
           ends_at: datetime, resolved: bool) -> dict[str, Any]:
    source_id, metric = str(row["source_id"]), str(row["metric"])
    method = key_method(row)
    statistic, threshold = method_statistic(row, method, context)
    url = dashboard_key_url(dashboard_url, source_id, metric)
    return {
        "labels": {
            "alertname": ALERTNAME,
            "source_id": source_id,
            "metric": metric,
            "method": method,
            "severity": context.severity or DEFAULT_SEVERITY,
            "source_type": context.source_type or DEFAULT_SOURCE_TYPE,
        },
        "annotations": {
            "summary": f"{source_id}/{metric} drifted from its baseline ({method})",
            "z_score": _num(row.get("z_score")),
            "std_ratio": _num(row.get("std_ratio")),
            "statistic": statistic,
            "threshold": threshold,
            "baseline_mean": _num(row.get("baseline_mean")),
            "baseline_std": _num(row.get("baseline_std")),
            "rolling_mean": _num(row.get("rolling_mean")),
            "dashboard_url": url,
        },
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at),
        "generatorURL": url,
        "_resolved": resolved,
    }


def alerts_build(
    drifting: Iterable[Mapping[str, Any]],
    recent_ends: Iterable[Mapping[str, Any]],
    *,
    context_for: Callable[[str, str], KeyContext],
    now: datetime,
    resend_seconds: float,
    dashboard_url: str,
    previously_firing: Mapping[Key, datetime] | None = None,
) -> AlertPlan:
    """Every alert to post at ``now``.

    ``drifting``: ``drift_status_current`` rows in state DRIFTING (``state_since`` = start).
    ``recent_ends``: per key whose latest transition is a recent DRIFT_END, that event's row with
    ``event_time`` (the end) and ``started_at`` (the DRIFT_START before it, or None).
    ``previously_firing``: keys this notifier last sent as firing, with their ``startsAt``.
    """
    alerts: list[dict[str, Any]] = []
    firing: dict[Key, datetime] = {}
    ends_at_firing = now + timedelta(seconds=ENDS_AT_RESEND_FACTOR * resend_seconds)
    for row in drifting:
        key = (str(row["source_id"]), str(row["metric"]))
        if key in firing:  # one alert per key even if a caller passes duplicates
            continue
        starts_at = min(row["state_since"], now)
        firing[key] = starts_at
        alerts.append(_alert(row, context_for(*key), dashboard_url=dashboard_url, starts_at=starts_at,
                             ends_at=ends_at_firing, resolved=False))
    ended: set[Key] = set()
    for row in recent_ends:
        key = (str(row["source_id"]), str(row["metric"]))
        if key in firing or key in ended:  # drifting again: the firing alert is the truth
            continue
        ended.add(key)
        ends_at = min(row["event_time"], now)
        started = row.get("started_at") or ends_at
        alerts.append(_alert(row, context_for(*key), dashboard_url=dashboard_url, starts_at=min(started, ends_at),
                             ends_at=ends_at, resolved=True))
    orphans = {key: starts for key, starts in (previously_firing or {}).items() if key not in firing and key not in ended}
    for (source_id, metric), starts_at in sorted(orphans.items()):
        row = {"source_id": source_id, "metric": metric}
        alerts.append(_alert(row, context_for(source_id, metric), dashboard_url=dashboard_url,
                             starts_at=min(starts_at, now), ends_at=now, resolved=True))
    return AlertPlan(alerts=alerts, firing=firing, orphans=orphans)


def recent_ends_pair(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """From drift_events rows of some keys, newest first per key, the keys whose latest event
    is a DRIFT_END: that row plus ``started_at`` = the event time of the DRIFT_START before it."""
    by_key: dict[Key, list[Mapping[str, Any]]] = {}
    for row in events:
        by_key.setdefault((str(row["source_id"]), str(row["metric"])), []).append(row)
    out = []
    for rows in by_key.values():
        rows = sorted(rows, key=lambda r: r["event_time"], reverse=True)
        latest = rows[0]
        if latest["event_type"] != "DRIFT_END":
            continue
        start = next((r for r in rows[1:] if r["event_type"] == "DRIFT_START"), None)
        out.append({**latest, "started_at": start["event_time"] if start is not None else None})
    return out
