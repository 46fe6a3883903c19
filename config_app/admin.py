"""Admin for the configuration. Validation comes from the models (clean + constraints),
so the admin shows the same clear messages the database would enforce anyway."""

from __future__ import annotations

from django.contrib import admin

from config_app.models import BaselineStats, ConfigVersion, MetricThreshold, SourceMetadata


@admin.register(MetricThreshold)
class MetricThresholdAdmin(admin.ModelAdmin):
    list_display = (
        "scope", "source_id", "metric", "window_seconds", "min_samples", "z_threshold",
        "std_ratio_threshold", "enter_hits", "exit_hits", "allowed_lateness_seconds", "enabled", "updated_at",
    )
    list_filter = ("enabled", "metric")
    search_fields = ("source_id", "metric")
    readonly_fields = ("scope", "created_at", "updated_at")
    fieldsets = (
        ("Scope", {"fields": ("scope", "source_id", "metric", "enabled"),
                   "description": "Empty source and metric = the default row. Most specific enabled row wins: "
                                  "source+metric, then metric, then default."}),
        ("Window", {"fields": ("window_seconds", "min_samples", "allowed_lateness_seconds")}),
        ("Drift rule", {"fields": ("z_threshold", "std_ratio_threshold", "enter_hits", "exit_hits")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="scope")
    def scope(self, obj: MetricThreshold) -> str:
        return obj.scope


@admin.register(BaselineStats)
class BaselineStatsAdmin(admin.ModelAdmin):
    list_display = ("source_id", "metric", "count", "mean", "std", "window_start", "window_end",
                    "high_water_mark", "updated_at")
    list_filter = ("metric",)
    search_fields = ("source_id", "metric")
    readonly_fields = ("std", "updated_at")

    @admin.display(description="std (sample)")
    def std(self, obj: BaselineStats) -> str:
        return f"{obj.std:.6g}"


@admin.register(SourceMetadata)
class SourceMetadataAdmin(admin.ModelAdmin):
    list_display = ("source_id", "source_type", "active", "first_seen", "last_seen")
    list_filter = ("active", "source_type")
    search_fields = ("source_id",)


@admin.register(ConfigVersion)
class ConfigVersionAdmin(admin.ModelAdmin):
    """Read-only: the version is bumped by a database trigger on every threshold change."""

    list_display = ("version", "changed_at")
    readonly_fields = ("version", "changed_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
