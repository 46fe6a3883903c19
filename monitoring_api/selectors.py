"""Reads behind the monitoring API and dashboard (HackSoft "selectors").

Configuration comes from PostgreSQL through the ORM; detection results from ClickHouse through
:mod:`detection.clickhouse.readers` (which holds all the SQL). This module is the composition
root for those reads: it picks the process-wide ClickHouse client and database from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet

from config_app.models import BaselineHistory, BaselineStats, MetricThreshold, SourceMetadata
from config_app.selectors import ThresholdRule, threshold_set_get
from detection.clickhouse import readers
from detection.clickhouse.client import get_client
from monitoring_api.query_cache import QueryCache
from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector
from detection.core.events import Event, datetime_to_ms, event_id_for

THRESHOLD_ORDERINGS = ("source_id", "metric", "window_seconds", "z_threshold", "std_ratio_threshold", "updated_at")
BASELINE_ORDERINGS = ("source_id", "metric", "count", "mean", "updated_at", "high_water_mark")
SOURCE_ORDERINGS = ("source_id", "source_type", "first_seen", "last_seen")


def _ordered(queryset: QuerySet, ordering: str | None, tiebreak: tuple[str, ...]) -> QuerySet:
    """``ordering`` is a field name, ``-`` first for descending; nulls sort last either way
    (as on /drift/status), and ``tiebreak`` makes the order total for stable pages."""
    if not ordering:
        return queryset.order_by(*tiebreak)
    field = F(ordering.lstrip("-"))
    first = field.desc(nulls_last=True) if ordering.startswith("-") else field.asc(nulls_last=True)
    return queryset.order_by(first, *tiebreak)


# --- PostgreSQL -------------------------------------------------------------------------------
def _filtered(queryset: QuerySet, **lookups) -> QuerySet:
    """Apply the lookups whose value was given (None = that filter was not asked for)."""
    return queryset.filter(**{lookup: value for lookup, value in lookups.items() if value is not None})


def threshold_list(
    *,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    enabled: bool | None = None,
    ordering: str | None = None,
) -> QuerySet[MetricThreshold]:
    queryset = _filtered(MetricThreshold.objects.all(), source_id=source_id, metric=metric,
                         metric__startswith=metric_prefix, enabled=enabled)
    return _ordered(queryset, ordering, ("metric", "source_id", "pk"))


def baseline_list(
    *,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    ordering: str | None = None,
) -> QuerySet[BaselineStats]:
    queryset = _filtered(BaselineStats.objects.all(), source_id=source_id, metric=metric,
                         metric__startswith=metric_prefix)
    return _ordered(queryset, ordering, ("source_id", "metric", "pk"))


def source_list(
    *,
    source_id: str | None = None,
    source_id_prefix: str | None = None,
    active: bool | None = None,
    source_type: str | None = None,
    ordering: str | None = None,
) -> QuerySet[SourceMetadata]:
    queryset = _filtered(SourceMetadata.objects.all(), source_id=source_id, source_id__startswith=source_id_prefix,
                         active=active, source_type=source_type)
    return _ordered(queryset, ordering, ("source_id", "pk"))


def baseline_get(*, source_id: str, metric: str) -> BaselineStats | None:
    return BaselineStats.objects.filter(source_id=source_id, metric=metric).first()


BASELINE_VERSIONS_SHOWN = 10


def baseline_history_list(*, source_id: str, metric: str, limit: int = BASELINE_VERSIONS_SHOWN) -> list[BaselineHistory]:
    """A key's newest baseline versions, newest first, each with the DAG run that produced it."""
    return list(
        BaselineHistory.objects.filter(baseline__source_id=source_id, baseline__metric=metric)
        .order_by("-recorded_at", "-id")[:limit]
    )


def threshold_for_key_get(*, source_id: str, metric: str) -> ThresholdRule | None:
    """The threshold that applies to a key (the same resolution the detector uses)."""
    return threshold_set_get().for_key(source_id, metric)


# --- ClickHouse -------------------------------------------------------------------------------
def _clickhouse():
    return get_client(), settings.CLICKHOUSE_DATABASE


QUERY_CACHE = QueryCache()
"""The hot list reads (status and events pages), reused for API_QUERY_CACHE_SECONDS (<= 1 s)."""


def _cached(name: str, compute, **params):
    key = (name, settings.CLICKHOUSE_URL, settings.CLICKHOUSE_DATABASE, tuple(sorted(params.items())))
    return QUERY_CACHE.get(key, compute, ttl_seconds=settings.API_QUERY_CACHE_SECONDS)


def drift_status_list(
    *,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    state: str | None = None,
    ordering: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> readers.DriftStatusPage:
    """One page of the latest state per key; ``ordering`` is a field name, ``-`` for descending.

    Cached per parameters for API_QUERY_CACHE_SECONDS (see :mod:`monitoring_api.query_cache`).
    """
    order = [(ordering.lstrip("-"), ordering.startswith("-"))] if ordering else []

    def compute() -> readers.DriftStatusPage:
        client, database = _clickhouse()
        return readers.drift_status_page(
            client,
            database=database,
            source_id=source_id,
            metric=metric,
            metric_prefix=metric_prefix,
            state=state,
            ordering=order,
            limit=limit,
            offset=offset,
        )

    return _cached("drift_status_list", compute, source_id=source_id, metric=metric, metric_prefix=metric_prefix,
                   state=state, ordering=ordering, limit=limit, offset=offset)


def drift_status_get(*, source_id: str, metric: str) -> dict[str, Any] | None:
    client, database = _clickhouse()
    return readers.drift_status_get(client, database=database, source_id=source_id, metric=metric)


def drift_event_list(
    *,
    source_id: str | None = None,
    metric: str | None = None,
    metric_prefix: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: readers.EventPosition | None = None,
    descending: bool = True,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Drift events in keyset order; cached per parameters for API_QUERY_CACHE_SECONDS.

    The list is shared with other callers of the same page: copy it before changing it.
    """

    def compute() -> list[dict[str, Any]]:
        client, database = _clickhouse()
        return readers.drift_event_list(
            client,
            database=database,
            source_id=source_id,
            metric=metric,
            metric_prefix=metric_prefix,
            event_type=event_type,
            since=since,
            until=until,
            after=after,
            descending=descending,
            limit=limit,
        )

    return _cached("drift_event_list", compute, source_id=source_id, metric=metric, metric_prefix=metric_prefix,
                   event_type=event_type, since=since, until=until, after=after, descending=descending, limit=limit)


@dataclass(frozen=True)
class DriftSeries:
    """What the dashboard's key chart draws."""

    source_id: str
    metric: str
    status: dict[str, Any] | None
    threshold: ThresholdRule | None
    baseline: BaselineStats | None
    baseline_history: list[BaselineHistory]
    band: dict[str, float] | None
    points: list[dict[str, Any]]
    drift_periods: list[dict[str, datetime | None]]


MAX_PERIOD_EVENTS = 5000


def drift_series_get(
    *, source_id: str, metric: str, since: datetime | None = None, until: datetime | None = None, limit: int = 2000
) -> DriftSeries:
    """Recent raw values of a key with their rolling mean, the baseline band and drift periods.

    Without ``since`` the series holds the key's newest ``limit`` events (before ``until``).
    The band is baseline mean ± z_threshold × baseline std, with the threshold resolved as the
    detector resolves it. A drift period starts at a DRIFT_START and ends at the next DRIFT_END;
    ``end`` is None while it lasts; a period already open at ``since`` starts at ``since``.
    """
    client, database = _clickhouse()
    threshold = threshold_for_key_get(source_id=source_id, metric=metric)
    baseline = baseline_get(source_id=source_id, metric=metric)
    status = readers.drift_status_get(client, database=database, source_id=source_id, metric=metric)

    band = None
    if threshold is not None and baseline is not None and baseline.count > 1:
        half = threshold.z_threshold * baseline.std
        band = {"lower": baseline.mean - half, "upper": baseline.mean + half}

    if since is None:
        bounds = readers.raw_event_time_bounds(
            client, database=database, source_id=source_id, metric=metric, until=until, newest=limit
        )
        since = bounds[0] if bounds else None
    points: list[dict[str, Any]] = []
    periods: list[dict[str, datetime | None]] = []
    if since is not None:
        points = readers.raw_event_series(
            client,
            database=database,
            source_id=source_id,
            metric=metric,
            since=since,
            until=until,
            window_seconds=threshold.window_seconds if threshold else None,
            limit=limit,
        )
        events = readers.drift_event_list(
            client,
            database=database,
            source_id=source_id,
            metric=metric,
            since=since,
            until=until,
            descending=False,
            limit=MAX_PERIOD_EVENTS,
        )
        before = readers.drift_event_type_before(
            client, database=database, source_id=source_id, metric=metric, before=since
        )
        periods = _drift_periods(events, open_at=since if before == "DRIFT_START" else None)
    if points and threshold is not None and threshold.method == "cusum" and baseline is not None and baseline.count > 1:
        _add_cusum_scores(points, source_id, metric, threshold.thresholds, baseline)
    return DriftSeries(
        source_id=source_id,
        metric=metric,
        status=status,
        threshold=threshold,
        baseline=baseline,
        baseline_history=baseline_history_list(source_id=source_id, metric=metric) if baseline is not None else [],
        band=band,
        points=points,
        drift_periods=periods,
    )


def _add_cusum_scores(points: list[dict[str, Any]], source_id: str, metric: str, thresholds: Thresholds,
                      baseline: BaselineStats) -> None:
    """Each point's cusum score: the largest statistic / its decision threshold (> 1 = violation),
    from the pure core replaying the points shown (statistics start at 0 at the first point, so
    early points can differ from what the live detector had then)."""
    core_baseline = Baseline(mean=baseline.mean, std=baseline.std, count=baseline.count,
                             autocorrelation=baseline.autocorrelation)
    detector = KeyedDetector(lambda s, m: thresholds, lambda s, m: core_baseline)
    for point in points:
        t = datetime_to_ms(point["event_time"])
        value = float(point["value"])
        detector.update(Event(source_id, metric, value, t, event_id_for(source_id, metric, value, t)))
        status = detector.status(source_id, metric)
        point["cusum_score"] = (
            status.statistic / status.threshold if status.statistic is not None and status.threshold else None
        )


def _drift_periods(events: list[dict[str, Any]], *, open_at: datetime | None) -> list[dict[str, datetime | None]]:
    periods: list[dict[str, datetime | None]] = []
    start = open_at
    for event in events:
        if event["event_type"] == "DRIFT_START":
            if start is None:
                start = event["event_time"]
        elif start is not None:
            periods.append({"start": start, "end": event["event_time"]})
            start = None
    if start is not None:
        periods.append({"start": start, "end": None})
    return periods
