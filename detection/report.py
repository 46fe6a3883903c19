"""The detection report for a time range: ground truth (Postgres) vs transitions (ClickHouse).

Used by ``manage.py detection_report``, the API endpoint and ``make demo``. The matching
rules are in :mod:`detection.evaluation` (pure).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.conf import settings

from config_app.scenario_selectors import scenario_targets_started_between, source_types_get
from config_app.selectors import threshold_set_get
from detection.clickhouse.client import get_client
from detection.clickhouse.state_readers import drift_starts_between, raw_events_between
from detection.core.events import datetime_to_ms
from detection.evaluation import DetectedStart, InjectedDrift, Report, evaluate

# The last instant ClickHouse's DateTime64 can hold: ranges are clamped to it.
_DATETIME64_MAX = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)


def default_grace_seconds() -> float:
    """How long after a drift's stop a DRIFT_START still counts as its detection: the longest
    configured window (the window still holds drifted events that long)."""
    windows = [rule.window_seconds for rule in threshold_set_get().rules.values()]
    return max(windows, default=60.0)


def detection_report(*, since: datetime, until: datetime, grace_seconds: float | None = None,
                     events_produced: int | None = None) -> Report:
    if until <= since:
        raise ValueError("until must be after since")
    grace = default_grace_seconds() if grace_seconds is None else grace_seconds
    types = source_types_get()
    targets = scenario_targets_started_between(since, until)
    injected = [
        InjectedDrift(
            source_id=t.source_id, metric=t.metric, source_type=types.get(t.source_id, "other"), kind=t.kind,
            magnitude=t.magnitude, start_ms=datetime_to_ms(t.actual_start),
            end_ms=datetime_to_ms(t.actual_end) if t.actual_end else None,
        )
        for t in targets
    ]
    client = get_client()
    database = settings.CLICKHOUSE_DATABASE
    # DRIFT_STARTs up to `grace` after the range still match injections inside it
    starts = [
        DetectedStart(s, m, t, d)
        for s, m, t, d in drift_starts_between(client, database, since_ms=datetime_to_ms(since),
                                                until_ms=datetime_to_ms(min(until + timedelta(seconds=grace), _DATETIME64_MAX)))
    ]
    report = evaluate(injected, starts, source_types=types, grace_ms=round(grace * 1000),
                      false_starts_before_ms=datetime_to_ms(until))
    report.events_processed = raw_events_between(client, database, since_ms=datetime_to_ms(since), until_ms=datetime_to_ms(until))
    report.events_produced = events_produced
    return report
