"""Admin for the configuration. Validation comes from the models (clean + constraints),
so the admin shows the same clear messages the database would enforce anyway."""

from __future__ import annotations

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from detection.core.config import THRESHOLD_FIELDS
from config_app.models import (
    BaselineFoldState,
    BaselineHistory,
    BaselineStats,
    ConfigVersion,
    MetricThreshold,
    SourceMetadata,
)


class ReadOnlyAdminMixin:
    """Rows written by the system (history, watermarks, ground truth): shown, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _with_unplaced_threshold_fields(fieldsets: tuple) -> tuple:
    """A threshold field added to the core and the model but not placed in a fieldset still shows up."""
    placed = {name for _, options in fieldsets for name in options["fields"]}
    rest = tuple(name for name in THRESHOLD_FIELDS if name not in placed)
    return fieldsets + ((("Other thresholds", {"fields": rest}),) if rest else ())


@admin.register(MetricThreshold)
class MetricThresholdAdmin(admin.ModelAdmin):
    list_display = (
        "scope", "source_id", "metric", "method", "window_seconds", "min_samples", "z_threshold",
        "std_ratio_threshold", "target_false_alarms_per_100k", "enter_hits", "exit_hits", "allowed_lateness_seconds",
        "severity", "enabled", "updated_at",
    )
    list_filter = ("enabled", "method", "metric")
    search_fields = ("source_id", "metric")
    readonly_fields = ("scope", "derived_cusum_thresholds", "created_at", "updated_at")
    fieldsets = (
        ("Scope", {"fields": ("scope", "source_id", "metric", "enabled"),
                   "description": "Empty source and metric = the default row. Most specific enabled row wins: "
                                  "source+metric, then metric, then default."}),
        ("Window", {"fields": ("window_seconds", "min_samples", "allowed_lateness_seconds")}),
        ("Method", {"fields": ("method", "enter_hits", "exit_hits")}),
        ("zscore rule", {"fields": ("z_threshold", "std_ratio_threshold")}),
        ("cusum rule", {"fields": ("target_false_alarms_per_100k", "mean_shift_sigma", "std_up_ratio",
                                   "std_down_ratio", "derived_cusum_thresholds"),
                        "description": "Decision thresholds are derived from the target false-alarm rate "
                                       "(detection/core/README.md); keys whose baseline is autocorrelated "
                                       "get their own, shown in their status."}),
        ("Baseline", {"fields": ("baseline_excludes_drifting",)}),
        ("Alerting", {"fields": ("severity",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    fieldsets = _with_unplaced_threshold_fields(fieldsets)

    @admin.display(description="scope")
    def scope(self, obj: MetricThreshold) -> str:
        return obj.scope

    @admin.display(description="derived cusum thresholds (mean up / mean down / std up / std down)")
    def derived_cusum_thresholds(self, obj: MetricThreshold) -> str:
        try:
            values = obj.thresholds().cusum_decision_thresholds
        except (TypeError, ValueError):
            return "-"
        return " / ".join(f"{h:.2f}" for h in values) + " (baseline without autocorrelation)"


# =================================================================================================
# Baselines: folded in by the baseline job (config_app.services.baselines); the history of every
# update is read-only, shown inline (latest updates) and in its own changelist.
# =================================================================================================
HISTORY_INLINE_ROWS = 50


class LatestHistoryFormSet(BaseInlineFormSet):
    """Only the newest updates: a key folded every minute gathers ~500k history rows a year."""

    def get_queryset(self):
        return super().get_queryset()[:HISTORY_INLINE_ROWS]


class BaselineHistoryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BaselineHistory
    formset = LatestHistoryFormSet
    verbose_name_plural = f"history (latest {HISTORY_INLINE_ROWS} updates)"
    fields = ("recorded_at", "kind", "run_id", "events", "count", "mean", "std", "high_water_mark")
    readonly_fields = fields
    ordering = ("-recorded_at", "-id")
    extra = 0
    can_delete = False

    @admin.display(description="std (sample)")
    def std(self, obj: BaselineHistory) -> str:
        return f"{obj.std:.6g}"


@admin.register(BaselineStats)
class BaselineStatsAdmin(admin.ModelAdmin):
    list_display = ("source_id", "metric", "count", "mean", "std", "window_start", "window_end",
                    "high_water_mark", "updated_at")
    list_filter = ("metric",)
    search_fields = ("source_id", "metric")
    readonly_fields = ("std", "high_water_mark", "all_history", "updated_at")
    fields = ("source_id", "metric", "count", "mean", "m2", "std", "window_start", "window_end",
              "high_water_mark", "all_history", "updated_at")
    inlines = (BaselineHistoryInline,)

    @admin.display(description="std (sample)")
    def std(self, obj: BaselineStats) -> str:
        return f"{obj.std:.6g}"

    def get_deleted_objects(self, objs, request):
        """History rows go with their baseline (a cascade): counted, not listed one by one (a key
        folded every minute has ~500k), and not blocked by the history admin being read-only."""
        objs = list(objs)
        model_count = {BaselineStats._meta.verbose_name_plural: len(objs)}
        history = BaselineHistory.objects.filter(baseline__in=objs).count()
        if history:
            model_count[BaselineHistory._meta.verbose_name_plural] = history
        return [str(obj) for obj in objs], model_count, set(), []

    @admin.display(description="history")
    def all_history(self, obj: BaselineStats) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:config_app_baselinehistory_changelist") + f"?baseline__id__exact={obj.pk}"
        return format_html('<a href="{}">all {} updates</a>', url, obj.history.count())


@admin.register(BaselineHistory)
class BaselineHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: one row per baseline update per key, written by the baseline fold."""

    list_display = ("recorded_at", "source_id", "metric", "kind", "run_id", "events", "count", "mean", "std",
                    "high_water_mark")
    list_filter = ("kind", "recorded_at")
    search_fields = ("baseline__source_id", "baseline__metric", "run_id")
    list_select_related = ("baseline",)
    date_hierarchy = "recorded_at"
    show_full_result_count = False

    @admin.display(description="source", ordering="baseline__source_id")
    def source_id(self, obj: BaselineHistory) -> str:
        return obj.baseline.source_id

    @admin.display(description="metric", ordering="baseline__metric")
    def metric(self, obj: BaselineHistory) -> str:
        return obj.baseline.metric

    @admin.display(description="std (sample)")
    def std(self, obj: BaselineHistory) -> str:
        return f"{obj.std:.6g}"


@admin.register(BaselineFoldState)
class BaselineFoldStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the global ingest-time watermark the baseline fold has reached."""

    list_display = ("id", "high_water_mark", "updated_at")
    readonly_fields = ("high_water_mark", "updated_at")


@admin.register(SourceMetadata)
class SourceMetadataAdmin(admin.ModelAdmin):
    list_display = ("source_id", "source_type", "active", "first_seen", "last_seen")
    list_filter = ("active", "source_type")
    search_fields = ("source_id",)


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the version is bumped by a database trigger on every threshold change."""

    list_display = ("version", "changed_at")
    readonly_fields = ("version", "changed_at")


# =================================================================================================
# Drift scenarios: scenarios are edited with their steps inline; runs (ground truth written by
# drift_controller) are read-only.
# =================================================================================================
from django.core.exceptions import ValidationError  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.forms.models import BaseInlineFormSet  # noqa: E402

from config_app.models import DriftScenario, ScenarioRun, ScenarioRunTarget, ScenarioStep  # noqa: E402
from config_app.scenario_rules import overlap_error  # noqa: E402


class ScenarioStepFormSet(BaseInlineFormSet):
    """Steps with the same target and kind must not overlap in time (a stop could not tell them
    apart); checked here across the whole inline, since one row cannot see its siblings."""

    def clean(self):
        super().clean()
        steps = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue  # an invalid row is reported by its own validation
            start, duration = data.get("start_offset_seconds"), data.get("duration_seconds")
            if start is None or duration is None:
                continue
            steps.append((data.get("source_id"), data.get("metric"), data.get("kind"), start, start + duration))
        error = overlap_error(steps)
        if error:
            raise ValidationError(error)


class ScenarioStepInline(admin.TabularInline):
    model = ScenarioStep
    formset = ScenarioStepFormSet
    extra = 1
    fields = ("source_id", "metric", "kind", "magnitude", "start_offset_seconds", "duration_seconds")


@admin.register(DriftScenario)
class DriftScenarioAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "seed", "step_count", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "description", "steps__source_id")
    readonly_fields = ("created_at", "updated_at")
    inlines = (ScenarioStepInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_step_count=Count("steps"))

    @admin.display(description="steps", ordering="_step_count")
    def step_count(self, obj: DriftScenario) -> int:
        return obj._step_count


class ScenarioRunTargetInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ScenarioRunTarget
    extra = 0
    can_delete = False
    fields = ("source_id", "metric", "kind", "magnitude", "planned_start", "planned_end", "actual_start", "actual_end")
    readonly_fields = fields


@admin.register(ScenarioRun)
class ScenarioRunAdmin(admin.ModelAdmin):
    """Read-only ground truth: recorded by drift_controller, never edited by hand."""

    list_display = ("id", "scenario", "status", "started_at", "finished_at", "time_scale", "seed")
    list_filter = ("status", "scenario")
    search_fields = ("scenario__name", "targets__source_id")
    date_hierarchy = "started_at"
    readonly_fields = ("scenario", "status", "started_at", "finished_at", "time_scale", "seed", "error")
    inlines = (ScenarioRunTargetInline,)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
