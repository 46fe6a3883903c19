"""The read-only monitoring API: one thin APIView per endpoint (HackSoft style).

Each API validates its query parameters with a nested ``FilterSerializer`` (a bad value is a
400 whose body names the parameter; shared parameters in :mod:`monitoring_api.filters`), calls
one selector, and renders with a nested ``OutputSerializer``. The limit/offset lists
(/thresholds, /baselines, /sources, /drift/status) share one ``get``
(:class:`~monitoring_api.api_base.LimitOffsetListApi`) and only declare their selector, filters,
output and schema text; paging itself (links, the /drift/events cursor) is in
:mod:`monitoring_api.pagination`. GET/HEAD/OPTIONS only, the token switch and the 503 of an
outage: :class:`~monitoring_api.api_base.ReadOnlyApi`. Each view has a human ``name``: the title
of its browsable-API page and the ``name`` of its OPTIONS answer.

Authentication: off by default (``API_TOKEN_AUTH=false``: anyone may read, a logged-in admin
session is recognised). With ``API_TOKEN_AUTH=true`` every endpoint except /health needs either
``Authorization: Token <key>`` (rest_framework.authtoken; create one with
``manage.py drf_create_token <user>``) or a logged-in session (the dashboard's fetches).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config_app.models import SourceMetadata
from detection.clickhouse.readers import DRIFT_EVENT_TYPES, DRIFT_STATES, DRIFT_STATUS_ORDERINGS, EventPosition
from detection.core.config import METHODS
from monitoring_api import selectors
from monitoring_api.api_base import LimitOffsetListApi, ReadOnlyApi
from monitoring_api.fields import (
    FiniteFloatField,
    QueryStringField,
    StrictIntegerField,
    UInt64StringField,
    UtcDateTimeField,
    threshold_fields,
)
from monitoring_api.filters import KeyFilterSerializer, TimeRangeFilterSerializer, ordering_field
from monitoring_api.health import health_get
from monitoring_api.pagination import (
    Cursor,
    LimitOffsetFilterSerializer,
    cursor_link,
    cursor_page_serializer,
    keyset_page,
    limit_offset_page_serializer,
)
from monitoring_api.rows import row_serializer
from monitoring_api.schema import AUTH_RESPONSES, REFUSALS, VALIDATION_ERROR


# --- /health ----------------------------------------------------------------------------------
@extend_schema_serializer(component_name="ComponentHealth")
class ComponentHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["up", "down"])
    latency_ms = serializers.FloatField(help_text="Time the probe took, in milliseconds.")
    detail = serializers.CharField(help_text="'ok', or why the component is down.")
    info = serializers.DictField(help_text="Facts the probe learned (server version, broker count, ...).")


class HealthCheckApi(ReadOnlyApi):
    """Whether PostgreSQL, ClickHouse and Kafka answer, with per-component timings."""

    name = "Health"
    public = True

    @extend_schema_serializer(component_name="Health")
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=["ok", "degraded", "unavailable"],
            help_text="degraded: an optional component (alertmanager) is down; the API still answers 200.",
        )
        checked_at = serializers.DateTimeField()
        components = serializers.DictField(
            child=ComponentHealthSerializer(),
            help_text="postgres, clickhouse, kafka (when KAFKA_BOOTSTRAP_SERVERS is set) and alertmanager "
                      "(when ALERTMANAGER_URL is set; optional).",
        )

    @extend_schema(
        operation_id="health_check",
        summary="Health of PostgreSQL, ClickHouse and Kafka",
        description=(
            "Probes every component concurrently (each bounded by API_HEALTH_TIMEOUT_SECONDS, default 3 s) "
            "and reports per-component status and latency. 200 when all are up, 503 when a required one is down; "
            "Alertmanager is optional: when only it is down the status is 'degraded' with 200. "
            "Never needs authentication."
        ),
        responses={
            200: OpenApiResponse(OutputSerializer, description="Every component is up."),
            503: OpenApiResponse(OutputSerializer, description="At least one component is down; see its detail."),
            **REFUSALS,
        },
    )
    def get(self, request):
        health = health_get()
        body = {
            "status": ("degraded" if health.degraded else "ok") if health.up else "unavailable",
            "checked_at": health.checked_at,
            "components": {
                name: {"status": "up" if c.up else "down", "latency_ms": c.latency_ms, "detail": c.detail, "info": c.info}
                for name, c in health.components.items()
            },
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_200_OK if health.up else status.HTTP_503_SERVICE_UNAVAILABLE)


# --- /thresholds --------------------------------------------------------------------------------
class ThresholdListApi(LimitOffsetListApi):
    """Metric thresholds as configured in the admin, with the scope each row applies to."""

    name = "Thresholds"
    operation_id = "thresholds_list"
    summary = "Detection thresholds (PostgreSQL)"

    class FilterSerializer(LimitOffsetFilterSerializer):
        source_id = QueryStringField(allow_blank=True, help_text="Exact source_id; empty = rows for any source.")
        metric = QueryStringField(allow_blank=True, help_text="Exact metric; empty = the default row.")
        metric_prefix = QueryStringField(help_text="Metric starts with this text.")
        enabled = serializers.BooleanField(required=False, help_text="Only enabled (true) or disabled (false) rows.")
        ordering = ordering_field(selectors.THRESHOLD_ORDERINGS)

    @extend_schema_serializer(component_name="MetricThreshold")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        scope = serializers.CharField(help_text="'default', '*/<metric>' or '<source_id>/<metric>'.")
        source_id = serializers.CharField(help_text="Empty: any source.")
        metric = serializers.CharField(help_text="Empty (with an empty source): the default row.")
        locals().update(threshold_fields())
        cusum_decision_thresholds = serializers.ListField(
            child=serializers.FloatField(), source="thresholds.cusum_decision_thresholds",
            help_text="cusum: decision thresholds derived from the target rate for a baseline without "
                      "autocorrelation [mean_up, mean_down, std_up, std_down]; keys with autocorrelated "
                      "baselines report their own in their status.",
        )
        severity = serializers.CharField(help_text="The severity label of this scope's drift alerts.")
        enabled = serializers.BooleanField()
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()

    PageSerializer = limit_offset_page_serializer(OutputSerializer, "PaginatedMetricThresholdList")

    def select(self, **filters):
        return selectors.threshold_list(**filters)


# --- /baselines ---------------------------------------------------------------------------------
class BaselineListApi(LimitOffsetListApi):
    """Long-term baselines (count, mean, std) per key, folded in by the baseline job."""

    name = "Baselines"
    operation_id = "baselines_list"
    summary = "Long-term baselines per key (PostgreSQL)"

    class FilterSerializer(LimitOffsetFilterSerializer, KeyFilterSerializer):
        ordering = ordering_field(selectors.BASELINE_ORDERINGS)

    @extend_schema_serializer(component_name="BaselineStats")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        source_id = serializers.CharField()
        metric = serializers.CharField()
        count = serializers.IntegerField(help_text="Distinct raw events folded in.")
        mean = FiniteFloatField()
        std = FiniteFloatField(help_text="Sample standard deviation (n - 1); 0 below two events.")
        window_start = serializers.DateTimeField(allow_null=True, help_text="Earliest event time folded in.")
        window_end = serializers.DateTimeField(allow_null=True, help_text="Latest event time folded in.")
        high_water_mark = serializers.DateTimeField(allow_null=True, help_text="Ingest time folded up to.")
        updated_at = serializers.DateTimeField()

    PageSerializer = limit_offset_page_serializer(OutputSerializer, "PaginatedBaselineStatsList")

    def select(self, **filters):
        return selectors.baseline_list(**filters)


# --- /sources -----------------------------------------------------------------------------------
class SourceListApi(LimitOffsetListApi):
    """Sources with their type, first/last seen times and whether they are active."""

    name = "Sources"
    operation_id = "sources_list"
    summary = "Sources seen by the detector (PostgreSQL)"

    class FilterSerializer(LimitOffsetFilterSerializer):
        source_id = QueryStringField(help_text="Exact source_id.")
        source_id_prefix = QueryStringField(help_text="source_id starts with this text.")
        active = serializers.BooleanField(required=False, help_text="Only active (true) or inactive (false) sources.")
        source_type = serializers.ChoiceField(
            choices=SourceMetadata.SourceType.values, required=False, help_text="Only sources of this type."
        )
        ordering = ordering_field(selectors.SOURCE_ORDERINGS)

    @extend_schema_serializer(component_name="Source")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        source_id = serializers.CharField()
        source_type = serializers.ChoiceField(choices=SourceMetadata.SourceType.values)
        first_seen = serializers.DateTimeField(allow_null=True)
        last_seen = serializers.DateTimeField(allow_null=True)
        active = serializers.BooleanField()

    PageSerializer = limit_offset_page_serializer(OutputSerializer, "PaginatedSourceList")

    def select(self, **filters):
        return selectors.source_list(**filters)


# --- /drift/status --------------------------------------------------------------------------------
@extend_schema_serializer(component_name="DriftStatus")
class MethodFieldsSerializer(serializers.Serializer):
    """The detection method's decision at the row's evaluation (drift_events and status alike)."""

    method = serializers.ChoiceField(choices=METHODS, help_text="Detection method of the key's threshold row.")
    statistic_name = serializers.CharField(
        allow_blank=True,
        help_text="zscore: 'z_score'. cusum: the CUSUM nearest its threshold (mean_up, mean_down, std_up, "
                  "std_down). Empty while not evaluated.",
    )
    statistic = FiniteFloatField(help_text="Value of that statistic.")
    threshold = FiniteFloatField(help_text="Its decision threshold (zscore: z_threshold; cusum: derived h).")
    cusum_statistics = serializers.ListField(
        child=FiniteFloatField(), help_text="cusum: [mean_up, mean_down, std_up, std_down]; empty for zscore."
    )
    cusum_thresholds = serializers.ListField(
        child=FiniteFloatField(), help_text="cusum: the decision thresholds in the same order; empty for zscore."
    )


class DriftStatusOutputSerializer(MethodFieldsSerializer):
    source_id = serializers.CharField()
    metric = serializers.CharField()
    state = serializers.ChoiceField(choices=DRIFT_STATES)
    state_since = serializers.DateTimeField(help_text="Event time at which the key entered this state.")
    last_event_time = serializers.DateTimeField(help_text="Newest event time seen for the key.")
    rolling_mean = FiniteFloatField()
    rolling_std = FiniteFloatField()
    rolling_count = serializers.IntegerField()
    baseline_mean = FiniteFloatField()
    baseline_std = FiniteFloatField()
    z_score = FiniteFloatField()
    std_ratio = FiniteFloatField()
    config_version = serializers.IntegerField(help_text="Threshold config version the detector used.")
    updated_at = serializers.DateTimeField(help_text="Wall-clock time the detector wrote this state.")


class DriftStatusListApi(LimitOffsetListApi):
    """The latest detection state of every key, filterable, sortable and paged."""

    name = "Drift status"
    operation_id = "drift_status_list"
    summary = "Latest detection state per key (ClickHouse)"
    operation_description = (
        "Reads drift_status_current with FINAL, so each key appears once with its newest version. "
        "Default order: source_id, metric."
    )

    class FilterSerializer(LimitOffsetFilterSerializer, KeyFilterSerializer):
        state = serializers.ChoiceField(choices=DRIFT_STATES, required=False, help_text="Only keys in this state.")
        ordering = ordering_field(DRIFT_STATUS_ORDERINGS)

    OutputSerializer = DriftStatusOutputSerializer
    serialize_rows = staticmethod(row_serializer(DriftStatusOutputSerializer))  # same output, ~50x cheaper

    StateCountsSerializer = extend_schema_serializer(component_name="DriftStateCounts")(
        type("StateCountsSerializer", (serializers.Serializer,), {s: serializers.IntegerField() for s in DRIFT_STATES})
    )

    PageSerializer = limit_offset_page_serializer(
        OutputSerializer,
        "PaginatedDriftStatusList",
        state_counts=StateCountsSerializer(help_text="Keys per state, with every filter applied except state."),
    )

    def page(self, filters, *, limit, offset):
        page = selectors.drift_status_list(**filters, limit=limit, offset=offset)  # pages itself, in ClickHouse
        return page.count, page.rows, {"state_counts": page.state_counts}


# --- /drift/events --------------------------------------------------------------------------------
@extend_schema_serializer(component_name="DriftEvent")
class DriftEventOutputSerializer(MethodFieldsSerializer):
    drift_event_id = UInt64StringField(help_text="Deterministic id (a decimal string: UInt64 exceeds JSON-safe integers).")
    source_id = serializers.CharField()
    metric = serializers.CharField()
    event_type = serializers.ChoiceField(choices=DRIFT_EVENT_TYPES)
    event_time = serializers.DateTimeField(help_text="Event time of the event that triggered the transition.")
    detected_at = serializers.DateTimeField(help_text="Wall-clock time of the detection.")
    rolling_mean = FiniteFloatField()
    rolling_std = FiniteFloatField()
    rolling_count = serializers.IntegerField()
    baseline_mean = FiniteFloatField()
    baseline_std = FiniteFloatField()
    z_score = FiniteFloatField()
    std_ratio = FiniteFloatField()
    trigger_event_id = UInt64StringField()
    config_version = serializers.IntegerField()


class DriftEventListApi(ReadOnlyApi):
    """Drift transitions, newest first, with keyset (cursor) pagination."""

    name = "Drift events"

    class FilterSerializer(KeyFilterSerializer, TimeRangeFilterSerializer):
        event_type = serializers.ChoiceField(
            choices=DRIFT_EVENT_TYPES, required=False, help_text="Only transitions of this type."
        )
        since = UtcDateTimeField(required=False, help_text="event_time >= since (ISO 8601; no offset = UTC).")
        until = UtcDateTimeField(required=False, help_text="event_time < until (ISO 8601; no offset = UTC).")
        ordering = serializers.ChoiceField(
            choices=["-event_time", "event_time"], default="-event_time", help_text="Newest first by default."
        )
        cursor = serializers.CharField(
            required=False, max_length=200, help_text="Opaque position from a previous response's next/previous link."
        )
        limit = StrictIntegerField(min_value=1, max_value=500, default=50, help_text="Page size, 1..500.")

    OutputSerializer = DriftEventOutputSerializer
    serialize_rows = staticmethod(row_serializer(DriftEventOutputSerializer))  # same output, ~50x cheaper
    PageSerializer = cursor_page_serializer(OutputSerializer, "PaginatedDriftEventList")

    @extend_schema(
        operation_id="drift_events_list",
        summary="Drift transitions (ClickHouse), keyset-paginated",
        description=(
            "DRIFT_START / DRIFT_END transitions ordered by (event_time, drift_event_id), newest first by "
            "default. Pages are linked by opaque cursors (next/previous), so events that arrive between "
            "two requests neither shift nor repeat rows. Replayed duplicates are returned once."
        ),
        parameters=[FilterSerializer],
        responses={200: PageSerializer, 400: VALIDATION_ERROR, **AUTH_RESPONSES},
    )
    def get(self, request):
        filters = self.filters(request)
        cursor, limit = filters.pop("cursor", None), filters.pop("limit")
        newest_first = filters.pop("ordering") == "-event_time"

        def fetch(*, after: Cursor | None, descending: bool, limit: int) -> list[dict]:
            position = EventPosition(after.event_time, after.drift_event_id) if after else None
            return selectors.drift_event_list(**filters, after=position, descending=descending, limit=limit)

        page = keyset_page(cursor, limit=limit, newest_first=newest_first, fetch=fetch)
        return Response(
            {
                "next": cursor_link(request, page.next),
                "previous": cursor_link(request, page.previous),
                "results": self.serialize_rows(page.rows),
            }
        )


# --- /drift/series --------------------------------------------------------------------------------
@extend_schema_serializer(component_name="ThresholdRule")
class ThresholdRuleSerializer(serializers.Serializer):
    source_id = serializers.CharField(help_text="Scope of the rule that applies ('' = any).")
    metric = serializers.CharField(help_text="Scope of the rule that applies ('' = default row).")
    locals().update(threshold_fields(source_prefix="thresholds."))
    cusum_decision_thresholds = serializers.ListField(
        child=serializers.FloatField(), source="thresholds.cusum_decision_thresholds",
        help_text="cusum: decision thresholds for a baseline without autocorrelation.",
    )
    severity = serializers.CharField(help_text="The severity label of the key's drift alerts.")


@extend_schema_serializer(component_name="SeriesBaseline")
class SeriesBaselineSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean = FiniteFloatField()
    std = FiniteFloatField()


@extend_schema_serializer(component_name="BaselineVersion")
class BaselineVersionSerializer(serializers.Serializer):
    recorded_at = serializers.DateTimeField(help_text="When the update was committed.")
    kind = serializers.CharField(help_text="fold or rebuild.")
    run_id = serializers.CharField(
        help_text="The Airflow DAG run that produced this version; empty when run_stack's timer or "
                  "manage.py update_baselines did.")
    events = serializers.IntegerField(help_text="Distinct raw events this update added.")
    count = serializers.IntegerField()
    mean = FiniteFloatField()
    std = FiniteFloatField()
    high_water_mark = serializers.DateTimeField(help_text="Fold watermark (ingest time) after this update.")


@extend_schema_serializer(component_name="SeriesBand")
class SeriesBandSerializer(serializers.Serializer):
    lower = FiniteFloatField(help_text="baseline mean - z_threshold x baseline std")
    upper = FiniteFloatField(help_text="baseline mean + z_threshold x baseline std")


@extend_schema_serializer(component_name="SeriesPoint")
class SeriesPointSerializer(serializers.Serializer):
    event_time = serializers.DateTimeField()
    value = FiniteFloatField()
    rolling_mean = FiniteFloatField(help_text="Mean of the key's values in (event_time - window_seconds, event_time].")
    cusum_score = FiniteFloatField(
        required=False, allow_null=True,
        help_text="cusum keys (null otherwise): largest CUSUM statistic / its decision threshold after this point (> 1 is a "
                  "violation), replayed by the core from the first point shown.",
    )


@extend_schema_serializer(component_name="DriftPeriod")
class DriftPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="null while the drift lasts.")


class DriftSeriesGetApi(ReadOnlyApi):
    """One key's recent values and the context the dashboard chart draws around them."""

    name = "Drift series"

    class FilterSerializer(TimeRangeFilterSerializer):
        source_id = QueryStringField(required=True, help_text="The key's source_id.")
        metric = QueryStringField(required=True, help_text="The key's metric.")
        since = UtcDateTimeField(required=False, help_text="First event time (default: that of the newest `limit` events).")
        until = UtcDateTimeField(required=False, help_text="Events strictly before this time (default: all).")
        limit = StrictIntegerField(min_value=1, max_value=10_000, default=2000, help_text="Most points, 1..10000.")

    @extend_schema_serializer(component_name="DriftSeries")
    class OutputSerializer(serializers.Serializer):
        source_id = serializers.CharField()
        metric = serializers.CharField()
        status = DriftStatusOutputSerializer(allow_null=True)
        threshold = ThresholdRuleSerializer(allow_null=True)
        baseline = SeriesBaselineSerializer(allow_null=True)
        baseline_history = BaselineVersionSerializer(
            many=True, help_text="The baseline's newest versions (at most 10), newest first.")
        band = SeriesBandSerializer(allow_null=True)
        points = SeriesPointSerializer(many=True)
        drift_periods = DriftPeriodSerializer(many=True)

    @extend_schema(
        operation_id="drift_series_get",
        summary="A key's recent values, rolling mean, baseline band and drift periods (dashboard chart)",
        description=(
            "Raw values of one key (raw_events, duplicates collapsed) with the rolling mean over the key's "
            "threshold window, the baseline mean +/- z_threshold x baseline std, and the drift periods from "
            "drift_events. threshold/baseline/band are null when the key has none. baseline_history lists the "
            "baseline's newest versions with the Airflow DAG run (run_id) that produced each."
        ),
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, 400: VALIDATION_ERROR, **AUTH_RESPONSES},
    )
    def get(self, request):
        filters = self.filters(request)
        series = selectors.drift_series_get(**filters)
        return Response(self.OutputSerializer(series).data)


# --- /drift/report --------------------------------------------------------------------------------
@extend_schema_serializer(component_name="DetectionReportTotals")
class _Totals(serializers.Serializer):
    injected = serializers.IntegerField()
    detected = serializers.IntegerField()
    missed = serializers.IntegerField()
    false_starts = serializers.IntegerField()
    repeated_starts = serializers.IntegerField()
    median_delay_seconds = serializers.FloatField(allow_null=True)
    events_produced = serializers.IntegerField(allow_null=True)
    events_processed = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="InjectedDriftOutcome")
class _Injected(serializers.Serializer):
    source_id = serializers.CharField()
    metric = serializers.CharField()
    source_type = serializers.CharField()
    kind = serializers.CharField()
    magnitude = serializers.FloatField()
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField(allow_null=True)
    detected = serializers.BooleanField()
    delay_seconds = serializers.FloatField(allow_null=True)
    detection_lag_seconds = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="FalseStart")
class _Start(serializers.Serializer):
    source_id = serializers.CharField()
    metric = serializers.CharField()
    event_time_ms = serializers.IntegerField()
    detected_at_ms = serializers.IntegerField()
    source_type = serializers.CharField(required=False)


class DriftReportGetApi(ReadOnlyApi):
    """Detection report for a time range: injected drifts (ground truth) vs DRIFT_STARTs."""

    name = "Drift report"

    class FilterSerializer(TimeRangeFilterSerializer):
        since = UtcDateTimeField(required=True, help_text="Start of the range (ISO-8601 with offset).")
        until = UtcDateTimeField(required=False, help_text="End of the range (default: now).")
        grace_seconds = serializers.FloatField(
            required=False, min_value=0, max_value=86_400,
            help_text="A DRIFT_START up to this long after a drift's stop still counts (default: longest window).",
        )

    @extend_schema_serializer(component_name="DetectionReport")
    class OutputSerializer(serializers.Serializer):
        totals = _Totals()
        by_source_type = serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()),
            help_text="Per producer kind (source_type): injected, detected, missed, false_starts.",
        )
        injected = _Injected(many=True)
        false_starts = _Start(many=True)
        repeated_starts = _Start(many=True)

    @extend_schema(
        operation_id="drift_report_get",
        summary="Detection report: every injected drift (detected? delay) and every false start",
        description=(
            "Compares the drift controller's recorded ground truth (scenario runs in PostgreSQL) with the "
            "DRIFT_START transitions in ClickHouse for a time range (rules: detection/evaluation.py)."
        ),
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, 400: VALIDATION_ERROR, **AUTH_RESPONSES},
    )
    def get(self, request):
        from datetime import UTC, datetime

        from detection.report import detection_report

        filters = self.filters(request)
        until = filters.get("until") or datetime.now(UTC)
        if filters["since"] >= until:
            raise ValidationError({"since": ["Must be earlier than until (default: now)."]})
        report = detection_report(since=filters["since"], until=until, grace_seconds=filters.get("grace_seconds"))
        return Response(self.OutputSerializer(report.as_dict()).data)
