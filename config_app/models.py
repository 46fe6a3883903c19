"""Configuration kept in PostgreSQL and edited in the Django admin.

Every rule is enforced twice: by ``clean()``/field validators (clear messages in the admin and in
``full_clean``) and by database ``CheckConstraint``s (nothing can bypass them, not even raw SQL).
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

ANY = ""  # an empty source_id / metric in a threshold row means "any"


def _check(condition: Q, name: str, message: str) -> models.CheckConstraint:
    """A database CHECK whose message is shown by full_clean()/the admin when it is violated."""
    return models.CheckConstraint(condition=condition, name=name, violation_error_message=message)


class MetricThreshold(models.Model):
    """Detection thresholds for a metric, optionally for one source.

    Resolution for a key (source_id, metric), most specific enabled row first:
    ``(source_id, metric)`` > ``("", metric)`` > the default row ``("", "")``.
    A disabled row is skipped as if it did not exist. Every insert, update or delete of this
    table bumps :class:`ConfigVersion` (a database trigger, so bulk edits count too), and the
    detector records that version on every drift event it writes.
    """

    source_id = models.CharField(
        max_length=256, blank=True, default=ANY, db_index=True,
        help_text="Leave empty to apply to every source. A source-specific row needs a metric.",
    )
    metric = models.CharField(
        max_length=256, blank=True, default=ANY, db_index=True,
        help_text="Leave empty (with an empty source) for the default row used by metrics without a row of their own.",
    )
    window_seconds = models.FloatField(
        validators=[MinValueValidator(0.001)],
        help_text="Length of the event-time rolling window, in seconds (> 0).",
    )
    min_samples = models.PositiveIntegerField(
        validators=[MinValueValidator(2)],
        help_text="Events the window must hold before a key is evaluated (>= 2).",
    )
    z_threshold = models.FloatField(
        help_text="Violation when |rolling mean - baseline mean| / baseline std exceeds this (> 0).",
    )
    std_ratio_threshold = models.FloatField(
        help_text="Violation when rolling std / baseline std is above this or below its inverse (> 1).",
    )
    enter_hits = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="N: consecutive violating evaluations that start a drift (>= 1).",
    )
    exit_hits = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="M: consecutive normal evaluations that end a drift (>= 1).",
    )
    allowed_lateness_seconds = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0)],
        help_text="How far behind a key's newest event time an event may arrive and still count (>= 0).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "metric_thresholds"
        ordering = ["metric", "source_id"]
        constraints = [
            models.UniqueConstraint(fields=["source_id", "metric"], name="metric_thresholds_unique_scope"),
            _check(Q(window_seconds__gt=0), "metric_thresholds_window_positive", "window_seconds must be greater than 0."),
            _check(Q(min_samples__gte=2), "metric_thresholds_min_samples_ge_2", "min_samples must be at least 2."),
            _check(Q(z_threshold__gt=0), "metric_thresholds_z_positive", "z_threshold must be greater than 0."),
            _check(Q(std_ratio_threshold__gt=1), "metric_thresholds_ratio_gt_1", "std_ratio_threshold must be greater than 1."),
            _check(Q(enter_hits__gte=1), "metric_thresholds_enter_hits_ge_1", "enter_hits (N) must be at least 1."),
            _check(Q(exit_hits__gte=1), "metric_thresholds_exit_hits_ge_1", "exit_hits (M) must be at least 1."),
            _check(
                Q(allowed_lateness_seconds__gte=0),
                "metric_thresholds_lateness_non_negative",
                "allowed_lateness_seconds must not be negative.",
            ),
            _check(
                Q(source_id="") | ~Q(metric=""),
                "metric_thresholds_source_needs_metric",
                "A row that names a source must also name a metric.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}: window={self.window_seconds:g}s z>{self.z_threshold:g} ratio>{self.std_ratio_threshold:g}"

    @property
    def scope(self) -> str:
        if not self.metric:
            return "default"
        return f"{self.source_id}/{self.metric}" if self.source_id else f"*/{self.metric}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name in ("window_seconds", "z_threshold", "std_ratio_threshold", "allowed_lateness_seconds"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                errors[name] = "Must be a finite number."
        if self.z_threshold is not None and self.z_threshold <= 0 and "z_threshold" not in errors:
            errors["z_threshold"] = "Must be greater than 0."
        if self.std_ratio_threshold is not None and self.std_ratio_threshold <= 1 and "std_ratio_threshold" not in errors:
            errors["std_ratio_threshold"] = "Must be greater than 1 (a shrink is detected below its inverse)."
        if self.source_id and not self.metric:
            errors["metric"] = "A row that names a source must also name a metric."
        if errors:
            raise ValidationError(errors)


class ConfigVersion(models.Model):
    """A single row whose ``version`` a trigger bumps on every change of metric_thresholds."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "config_version"
        constraints = [_check(Q(id=1), "config_version_single_row", "There is only one config version row (id 1).")]

    def __str__(self) -> str:
        return f"config version {self.version}"


class BaselineStats(models.Model):
    """Long-term statistics of a key, folded in incrementally (Chan's parallel update).

    ``m2`` is the sum of squared deviations from the mean; the standard deviation is derived
    from it (sample std, n - 1), never stored separately, so the two cannot disagree.
    ``high_water_mark`` is the ingest time up to which raw events have been folded in.
    """

    source_id = models.CharField(max_length=256)
    metric = models.CharField(max_length=256)
    count = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    mean = models.FloatField(default=0.0)
    m2 = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    window_start = models.DateTimeField(null=True, blank=True, help_text="Earliest event time folded in.")
    window_end = models.DateTimeField(null=True, blank=True, help_text="Latest event time folded in.")
    high_water_mark = models.DateTimeField(
        null=True, blank=True, help_text="Ingest time up to which raw events have been folded in."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "baseline_stats"
        verbose_name_plural = "baseline stats"
        ordering = ["source_id", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["source_id", "metric"], name="baseline_stats_unique_key"),
            _check(Q(count__gte=0), "baseline_stats_count_non_negative", "count must not be negative."),
            _check(Q(m2__gte=0), "baseline_stats_m2_non_negative", "m2 must not be negative."),
            _check(
                Q(window_start__isnull=True) | Q(window_end__isnull=True) | Q(window_start__lte=models.F("window_end")),
                "baseline_stats_window_ordered",
                "window_start must not be after window_end.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}/{self.metric}: n={self.count} mean={self.mean:.6g} std={self.std:.6g}"

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name in ("mean", "m2"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                errors[name] = "Must be a finite number."
        if not self.source_id:
            errors["source_id"] = "This field cannot be blank."
        if not self.metric:
            errors["metric"] = "This field cannot be blank."
        if self.window_start and self.window_end and self.window_start > self.window_end:
            errors["window_end"] = "Must not be before window start."
        if errors:
            raise ValidationError(errors)


class SourceMetadata(models.Model):
    """What the detector has seen of each source (kept current in batches)."""

    class SourceType(models.TextChoices):
        STABLE = "stable"
        DYNAMIC = "dynamic"
        DRIFT = "drift"
        OTHER = "other"

    source_id = models.CharField(max_length=256, unique=True)
    source_type = models.CharField(max_length=32, choices=SourceType.choices, default=SourceType.OTHER)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "source_metadata"
        verbose_name_plural = "source metadata"
        ordering = ["source_id"]
        constraints = [
            _check(~Q(source_id=""), "source_metadata_source_id_not_empty", "source_id must not be empty."),
            _check(
                Q(first_seen__isnull=True) | Q(last_seen__isnull=True) | Q(first_seen__lte=models.F("last_seen")),
                "source_metadata_seen_ordered",
                "first_seen must not be after last_seen.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ({self.source_type})"
