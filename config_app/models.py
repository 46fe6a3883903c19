"""Configuration kept in PostgreSQL and edited in the Django admin.

Every rule is enforced twice: by ``clean()``/field validators (clear messages in the admin and in
``full_clean``) and by database ``CheckConstraint``s (nothing can bypass them, not even raw SQL).
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from detection.core.config import METHODS, THRESHOLD_FIELDS, Thresholds
from detection.core.moments import sample_std
from django.db.models.functions import Now

ANY = ""  # an empty source_id / metric in a threshold row means "any"


def _non_finite_errors(obj: models.Model, names: tuple[str, ...]) -> dict[str, str]:
    """A "Must be a finite number." error for each named float field holding NaN or +-inf."""
    return {
        name: "Must be a finite number."
        for name in names
        if getattr(obj, name) is not None and not math.isfinite(getattr(obj, name))
    }


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
    method = models.CharField(
        max_length=16, choices=[(m, m) for m in METHODS], default="zscore",
        help_text="zscore: the rolling window's z-score and std ratio against the thresholds above (the seed "
                  "rule). cusum: sequential likelihood-ratio tests on each value, thresholds derived from the "
                  "target false-alarm rate below.",
    )
    target_false_alarms_per_100k = models.FloatField(
        default=0.5,
        help_text="cusum: drift starts per 100,000 evaluations of a key whose data match its baseline "
                  "(> 0, <= 1000). The decision thresholds are derived from it.",
    )
    mean_shift_sigma = models.FloatField(
        default=1.0, help_text="cusum: the mean shift, in baseline standard deviations, the test is tuned for (> 0).",
    )
    std_up_ratio = models.FloatField(
        default=2.0, help_text="cusum: the growth of the standard deviation the test is tuned for (> 1).",
    )
    std_down_ratio = models.FloatField(
        default=0.5, help_text="cusum: the shrink of the standard deviation the test is tuned for (> 0, < 1).",
    )
    enabled = models.BooleanField(default=True)
    severity = models.CharField(
        max_length=32, default="warning",
        validators=[RegexValidator(r"^[a-z][a-z0-9_-]*$", "Lower-case letters, digits, '_' or '-', starting with a letter.")],
        help_text="The `severity` label of this scope's drift alerts in Alertmanager (e.g. info, warning, critical). "
                  "Resolved like every other field: the most specific enabled row wins.",
    )
    baseline_excludes_drifting = models.BooleanField(
        default=False,
        help_text="Leave raw events that fall inside this key's DRIFTING intervals (drift_events) out of its "
                  "long-term baseline. Off by default: the baseline then keeps every event. Applies to events "
                  "folded after the change; run `manage.py update_baselines --rebuild` to apply it to the past.",
    )
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
            _check(Q(method__in=METHODS), "metric_thresholds_method_known", f"method must be one of {', '.join(METHODS)}."),
            _check(
                Q(target_false_alarms_per_100k__gt=0) & Q(target_false_alarms_per_100k__lte=1000),
                "metric_thresholds_target_rate_range",
                "target_false_alarms_per_100k must be greater than 0 and at most 1000.",
            ),
            _check(Q(mean_shift_sigma__gt=0), "metric_thresholds_mean_shift_positive", "mean_shift_sigma must be greater than 0."),
            _check(Q(std_up_ratio__gt=1), "metric_thresholds_std_up_gt_1", "std_up_ratio must be greater than 1."),
            _check(
                Q(std_down_ratio__gt=0) & Q(std_down_ratio__lt=1),
                "metric_thresholds_std_down_range",
                "std_down_ratio must be greater than 0 and less than 1.",
            ),
            _check(
                Q(severity__regex=r"^[a-z][a-z0-9_-]*$"),
                "metric_thresholds_severity_label",
                "severity must be lower-case letters, digits, '_' or '-', starting with a letter.",
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
        errors = _non_finite_errors(self, tuple(
            f.name for f in self._meta.concrete_fields if isinstance(f, models.FloatField) and f.name in THRESHOLD_FIELDS
        ))
        if self.z_threshold is not None and self.z_threshold <= 0 and "z_threshold" not in errors:
            errors["z_threshold"] = "Must be greater than 0."
        if self.std_ratio_threshold is not None and self.std_ratio_threshold <= 1 and "std_ratio_threshold" not in errors:
            errors["std_ratio_threshold"] = "Must be greater than 1 (a shrink is detected below its inverse)."
        if self.source_id and not self.metric:
            errors["metric"] = "A row that names a source must also name a metric."
        if not errors and all(getattr(self, name) is not None for name in THRESHOLD_FIELDS):
            # The core's Thresholds states every rule once; its first failing field is reported.
            try:
                self.thresholds()
            except (ValueError, TypeError) as exc:
                name = str(exc).split(" ", 1)[0]
                errors[name if name in THRESHOLD_FIELDS else "__all__"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def thresholds(self, version: int = 0) -> Thresholds:
        """This row as the core's validated Thresholds (raises ValueError on a bad value)."""
        return Thresholds(**{name: getattr(self, name) for name in THRESHOLD_FIELDS}, version=version)


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
    autocorrelation = models.FloatField(
        null=True, blank=True,
        help_text="Lag-1 autocorrelation of the values in event-time order (the cusum method corrects for it); "
                  "empty below 3 values or without spread.",
    )
    # The incremental state behind ``autocorrelation`` (detection.core.autocorrelation.LagOneState):
    # sums of y = value - lag_shift over the values folded since the column existed.
    lag_count = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    lag_shift = models.FloatField(default=0.0)
    lag_s1 = models.FloatField(default=0.0)
    lag_s2 = models.FloatField(default=0.0)
    lag_sp = models.FloatField(default=0.0)
    lag_first = models.FloatField(default=0.0)
    lag_last = models.FloatField(default=0.0)
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
        return sample_std(self.count, self.m2)

    def clean(self) -> None:
        errors = _non_finite_errors(self, ("mean", "m2"))
        if not self.source_id:
            errors["source_id"] = "This field cannot be blank."
        if not self.metric:
            errors["metric"] = "This field cannot be blank."
        if self.window_start and self.window_end and self.window_start > self.window_end:
            errors["window_end"] = "Must not be before window start."
        if errors:
            raise ValidationError(errors)


class BaselineFoldState(models.Model):
    """The single row that serialises baseline folds and holds the global fold watermark.

    ``high_water_mark`` is the ingest time up to which raw events have been folded into
    ``baseline_stats`` (all keys). A fold locks this row (``SELECT ... FOR UPDATE``) for its whole
    run and moves the watermark in the same transaction as the statistics, so overlapping runs
    queue instead of double counting. See :mod:`config_app.services.baselines`.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    high_water_mark = models.DateTimeField(
        null=True, blank=True, help_text="Ingest time up to which raw events have been folded in (all keys)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "baseline_fold_state"
        verbose_name = "baseline fold state"
        verbose_name_plural = "baseline fold state"
        constraints = [_check(Q(id=1), "baseline_fold_state_single_row", "There is only one fold state row (id 1).")]

    def __str__(self) -> str:
        return f"baselines folded up to {self.high_water_mark or 'nothing yet'}"


class BaselineHistory(models.Model):
    """One row per baseline update per key: the statistics right after that update.

    Written in bulk by each fold (one INSERT per fold), read-only in the admin, so a user can see
    how a baseline moved. ``events`` is how many distinct events that update added (a rebuild
    records its total).
    """

    class Kind(models.TextChoices):
        FOLD = "fold"
        REBUILD = "rebuild"

    baseline = models.ForeignKey(BaselineStats, on_delete=models.CASCADE, related_name="history", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FOLD)
    events = models.BigIntegerField(help_text="Distinct raw events this update added.")
    count = models.BigIntegerField()
    mean = models.FloatField()
    m2 = models.FloatField()
    autocorrelation = models.FloatField(null=True, blank=True, help_text="Lag-1 autocorrelation after this update.")
    high_water_mark = models.DateTimeField(help_text="Fold watermark (ingest time) after this update.")
    recorded_at = models.DateTimeField(db_default=Now(), help_text="Database time of the transaction that made the update.")
    run_id = models.CharField(
        max_length=250, blank=True, default="",
        help_text="The Airflow DAG run that produced this version (empty: run_stack's timer or update_baselines).",
    )

    class Meta:
        db_table = "baseline_history"
        verbose_name_plural = "baseline history"
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["baseline", "-recorded_at"], name="baseline_history_key_time"),
            # A retried DAG run looks up what its first attempt folded (baseline_fold_for_run).
            models.Index(fields=["run_id"], name="baseline_history_run_id", condition=~Q(run_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.baseline_id} @ {self.high_water_mark}: n={self.count} mean={self.mean:.6g} std={self.std:.6g}"

    @property
    def std(self) -> float:
        return sample_std(self.count, self.m2)


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


# =================================================================================================
# Drift scenarios (producers/, manage.py drift_controller, manage.py seed_scenarios).
# A scenario is a list of steps; each run of it is recorded with its ground truth: what was
# started and stopped on which key, planned and as acknowledged by the broker.
# =================================================================================================


class DriftKind(models.TextChoices):
    MEAN_SHIFT = "mean_shift", "mean shift (k sigma)"
    VARIANCE = "variance", "variance (spread factor r)"


class DriftScenario(models.Model):
    """A named, reproducible drift experiment: steps applied to drift producers' keys."""

    name = models.CharField(max_length=128, unique=True, help_text="What drift_controller --scenario takes.")
    description = models.TextField(blank=True)
    seed = models.BigIntegerField(
        default=0, validators=[MinValueValidator(0)],
        help_text="Recorded with every run: `run_producer --kind drift --seed <seed>` reproduces the values.",
    )
    enabled = models.BooleanField(default=True, help_text="drift_controller refuses a disabled scenario.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "drift_scenarios"
        ordering = ["name"]
        constraints = [
            _check(~Q(name=""), "drift_scenarios_name_not_empty", "name must not be empty."),
            _check(Q(seed__gte=0), "drift_scenarios_seed_non_negative", "seed must not be negative."),
        ]

    def __str__(self) -> str:
        return self.name


class ScenarioStep(models.Model):
    """One change on one key: from ``start_offset_seconds`` after the controller starts, for
    ``duration_seconds``. ``mean_shift``: the mean moves by ``magnitude`` standard deviations of
    the key; ``variance``: the spread (standard deviation) of the noise is multiplied by
    ``magnitude``, so the detector's std ratio reads about ``magnitude``."""

    scenario = models.ForeignKey(DriftScenario, on_delete=models.CASCADE, related_name="steps")
    source_id = models.CharField(max_length=256)
    metric = models.CharField(max_length=256)
    kind = models.CharField(max_length=16, choices=DriftKind.choices)
    magnitude = models.FloatField(
        help_text="mean_shift: k (sigmas, > 0); variance: factor r on the standard deviation (> 0, not 1).",
    )
    start_offset_seconds = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0)],
        help_text="Seconds after the controller starts (>= 0); times --time-scale.",
    )
    duration_seconds = models.FloatField(help_text="How long the change lasts (> 0); times --time-scale.")

    class Meta:
        db_table = "scenario_steps"
        ordering = ["scenario", "start_offset_seconds", "id"]
        constraints = [
            _check(~Q(source_id=""), "scenario_steps_source_id_not_empty", "source_id must not be empty."),
            _check(~Q(metric=""), "scenario_steps_metric_not_empty", "metric must not be empty."),
            _check(Q(kind__in=DriftKind.values), "scenario_steps_kind_valid", "kind must be mean_shift or variance."),
            _check(Q(magnitude__gt=0), "scenario_steps_magnitude_positive", "magnitude must be greater than 0."),
            _check(Q(duration_seconds__gt=0), "scenario_steps_duration_positive", "duration_seconds must be greater than 0."),
            _check(
                Q(start_offset_seconds__gte=0),
                "scenario_steps_offset_non_negative",
                "start_offset_seconds must not be negative.",
            ),
            _check(
                ~Q(kind=DriftKind.VARIANCE, magnitude=1.0),
                "scenario_steps_variance_factor_not_1",
                "A variance factor of 1 changes nothing.",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.source_id}/{self.metric} {self.kind} {self.magnitude:g} "
                f"@+{self.start_offset_seconds:g}s for {self.duration_seconds:g}s")

    def clean(self) -> None:
        errors = _non_finite_errors(self, ("magnitude", "start_offset_seconds", "duration_seconds"))
        if "magnitude" not in errors and self.magnitude is not None:
            if self.magnitude <= 0:
                errors["magnitude"] = "Must be greater than 0."
            elif self.kind == DriftKind.VARIANCE and self.magnitude == 1:
                errors["magnitude"] = "A variance factor of 1 changes nothing."
        if "duration_seconds" not in errors and self.duration_seconds is not None and self.duration_seconds <= 0:
            errors["duration_seconds"] = "Must be greater than 0."
        for name in ("source_id", "metric"):
            value = getattr(self, name)
            if value is not None and value.strip() != value:
                errors[name] = "Must not start or end with spaces."
        if errors:
            raise ValidationError(errors)


class ScenarioRun(models.Model):
    """One execution of a scenario by drift_controller (the ground truth of a drift experiment)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    scenario = models.ForeignKey(DriftScenario, on_delete=models.PROTECT, related_name="runs")
    started_at = models.DateTimeField(help_text="Wall-clock start; step offsets count from here.")
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    seed = models.BigIntegerField(help_text="The scenario's seed at the time of the run.")
    time_scale = models.FloatField(default=1.0, help_text="Offsets and durations were multiplied by this.")
    error = models.TextField(blank=True)

    class Meta:
        db_table = "scenario_runs"
        ordering = ["-started_at", "-id"]
        constraints = [
            _check(Q(time_scale__gt=0), "scenario_runs_time_scale_positive", "time_scale must be greater than 0."),
            _check(
                Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                "scenario_runs_finished_after_start",
                "finished_at must not be before started_at.",
            ),
            _check(
                Q(status="running", finished_at__isnull=True) | (~Q(status="running") & Q(finished_at__isnull=False)),
                "scenario_runs_finished_iff_not_running",
                "A running run has no finished_at; a finished one has.",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.scenario} ({self.status})"


class ScenarioRunTarget(models.Model):
    """Ground truth of one step in one run: planned window, and the times its start / stop
    commands were acknowledged by the broker (null if never sent)."""

    run = models.ForeignKey(ScenarioRun, on_delete=models.CASCADE, related_name="targets")
    source_id = models.CharField(max_length=256)
    metric = models.CharField(max_length=256)
    kind = models.CharField(max_length=16, choices=DriftKind.choices)
    magnitude = models.FloatField()
    planned_start = models.DateTimeField()
    planned_end = models.DateTimeField()
    actual_start = models.DateTimeField(null=True, blank=True, help_text="Start command acknowledged by the broker.")
    actual_end = models.DateTimeField(null=True, blank=True, help_text="Stop command acknowledged by the broker.")

    class Meta:
        db_table = "scenario_run_targets"
        ordering = ["run", "planned_start", "id"]
        indexes = [models.Index(fields=["source_id", "metric"], name="scenario_run_targets_key")]
        constraints = [
            _check(
                Q(planned_start__lt=models.F("planned_end")),
                "scenario_run_targets_planned_ordered",
                "planned_start must be before planned_end.",
            ),
            _check(
                Q(actual_end__isnull=True) | Q(actual_start__isnull=False, actual_start__lte=models.F("actual_end")),
                "scenario_run_targets_actual_ordered",
                "actual_end needs an actual_start that is not after it.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}/{self.metric} {self.kind} {self.magnitude:g}"
