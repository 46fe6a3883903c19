"""Configuration models on the real PostgreSQL: validation, constraints, precedence, versions."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from config_app.models import BaselineStats, MetricThreshold, SourceMetadata
from config_app.selectors import config_version_get, threshold_set_get
from config_app.services.thresholds import DEMO_CUSUM, DEMO_DEFAULT, threshold_upsert

pytestmark = pytest.mark.django_db

GOOD = dict(DEMO_DEFAULT)


def test_postgres_is_the_real_server():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        assert int(cur.fetchone()[0].split(".")[0]) >= 13


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window_seconds", 0, "greater than or equal to 0.001"),
        ("min_samples", 1, "greater than or equal to 2"),
        ("z_threshold", 0, "greater than 0"),
        ("z_threshold", -1.5, "greater than 0"),
        ("std_ratio_threshold", 1.0, "greater than 1"),
        ("enter_hits", 0, "greater than or equal to 1"),
        ("exit_hits", 0, "greater than or equal to 1"),
        ("allowed_lateness_seconds", -1, "greater than or equal to 0"),
        ("z_threshold", float("nan"), "finite"),
        ("method", "ewma", "not a valid choice"),
        ("target_false_alarms_per_100k", 0, "> 0 and <= 1000"),
        ("target_false_alarms_per_100k", float("inf"), "finite"),
        ("mean_shift_sigma", 0, "> 0"),
        ("std_up_ratio", 1.0, "> 1"),
        ("std_down_ratio", 1.0, "> 0 and < 1"),
    ],
)
def test_bad_threshold_values_are_rejected_with_a_clear_message(field, value, message):
    row = MetricThreshold(metric="cpu", **{**GOOD, field: value})
    with pytest.raises(ValidationError) as excinfo:
        row.full_clean()
    assert field in excinfo.value.message_dict
    assert any(message in m for m in excinfo.value.message_dict[field])


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_seconds", 0), ("min_samples", 1), ("z_threshold", 0), ("std_ratio_threshold", 1.0),
     ("enter_hits", 0), ("exit_hits", 0), ("allowed_lateness_seconds", -0.5), ("method", "ewma"),
     ("target_false_alarms_per_100k", 0.0), ("target_false_alarms_per_100k", 2000.0), ("mean_shift_sigma", 0.0),
     ("std_up_ratio", 0.9), ("std_down_ratio", 1.0), ("std_down_ratio", 0.0)],
)
def test_database_constraints_reject_bad_values_even_without_validation(field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricThreshold.objects.create(metric="cpu", **{**GOOD, field: value})


def test_source_specific_row_needs_a_metric():
    with pytest.raises(ValidationError) as excinfo:
        MetricThreshold(source_id="host-1", metric="", **GOOD).full_clean()
    assert "metric" in excinfo.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricThreshold.objects.create(source_id="host-1", metric="", **GOOD)


def test_one_row_per_scope():
    MetricThreshold.objects.create(metric="cpu", **GOOD)
    with pytest.raises(ValidationError):
        MetricThreshold(metric="cpu", **GOOD).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricThreshold.objects.create(metric="cpu", **GOOD)


def test_precedence_source_metric_over_metric_over_default():
    threshold_upsert(**{**GOOD, "z_threshold": 1.0})
    threshold_upsert(metric="cpu", **{**GOOD, "z_threshold": 2.0})
    threshold_upsert(source_id="host-1", metric="cpu", **{**GOOD, "z_threshold": 3.0})
    rules = threshold_set_get()
    assert rules.for_key("host-1", "cpu").z_threshold == 3.0
    assert rules.for_key("host-2", "cpu").z_threshold == 2.0
    assert rules.for_key("host-1", "mem").z_threshold == 1.0
    assert rules.for_key("host-9", "disk").z_threshold == 1.0


def test_disabled_rows_are_skipped_and_no_rule_means_none():
    threshold_upsert(metric="cpu", **{**GOOD, "z_threshold": 2.0})
    threshold_upsert(source_id="host-1", metric="cpu", enabled=False, **{**GOOD, "z_threshold": 3.0})
    rules = threshold_set_get()
    assert rules.for_key("host-1", "cpu").z_threshold == 2.0
    assert rules.for_key("host-1", "mem") is None


def test_every_change_bumps_the_config_version():
    v0 = config_version_get()
    row, _ = threshold_upsert(metric="cpu", **GOOD)
    v1 = config_version_get()
    assert v1 > v0
    MetricThreshold.objects.filter(pk=row.pk).update(z_threshold=4.0)  # bulk update, no save()
    v2 = config_version_get()
    assert v2 > v1
    MetricThreshold.objects.filter(pk=row.pk).delete()
    assert config_version_get() > v2
    assert threshold_set_get().version == config_version_get()


def test_seed_config_is_idempotent():
    call_command("seed_config")
    version = config_version_get()
    rows = list(MetricThreshold.objects.values())
    call_command("seed_config")
    assert list(MetricThreshold.objects.values()) == rows
    assert config_version_get() == version
    assert threshold_set_get().for_key("any-source", "any-metric").window_seconds == DEMO_DEFAULT["window_seconds"]


def test_seed_config_makes_cusum_the_default_of_a_new_install_and_keeps_an_existing_method():
    call_command("seed_config")
    rule = threshold_set_get().for_key("any-source", "any-metric")
    assert rule.method == "cusum" and rule.enter_hits == DEMO_CUSUM["enter_hits"]
    call_command("seed_config", method="zscore")
    assert threshold_set_get().for_key("s", "m").method == "zscore"
    call_command("seed_config")  # an existing row keeps its method
    assert threshold_set_get().for_key("s", "m").method == "zscore"


def test_precedence_applies_to_the_method_and_the_cusum_fields():
    threshold_upsert(**{**GOOD, "method": "cusum", "target_false_alarms_per_100k": 2.0})
    threshold_upsert(metric="cpu", **{**GOOD, "method": "zscore"})
    threshold_upsert(source_id="host-1", metric="cpu", **{**GOOD, "method": "cusum", "mean_shift_sigma": 0.5})
    rules = threshold_set_get()
    assert (rules.for_key("host-2", "mem").method, rules.for_key("host-2", "mem").target_false_alarms_per_100k) == ("cusum", 2.0)
    assert rules.for_key("host-2", "cpu").method == "zscore"
    assert (rules.for_key("host-1", "cpu").method, rules.for_key("host-1", "cpu").mean_shift_sigma) == ("cusum", 0.5)
    # Selectors hand out the core's Thresholds, at the version they were read at.
    assert rules.for_key("host-1", "cpu").thresholds.version == rules.version
    assert len(rules.for_key("host-2", "mem").cusum_decision_thresholds) == 4


def test_baseline_stats_std_is_derived_and_constraints_hold():
    b = BaselineStats.objects.create(source_id="s", metric="m", count=5, mean=2.0, m2=10.0)
    assert b.std == pytest.approx((10.0 / 4) ** 0.5)
    with pytest.raises(IntegrityError), transaction.atomic():
        BaselineStats.objects.create(source_id="s", metric="m", count=1, mean=0.0, m2=0.0)
    with pytest.raises(IntegrityError), transaction.atomic():
        BaselineStats.objects.create(source_id="s2", metric="m", count=-1, mean=0.0, m2=0.0)
    with pytest.raises(ValidationError) as excinfo:
        BaselineStats(source_id="s3", metric="m", count=3, mean=float("inf"), m2=-1.0).full_clean()
    assert {"mean", "m2"} <= set(excinfo.value.message_dict)


def test_source_metadata_rejects_empty_id_and_unordered_times():
    from django.utils import timezone

    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        SourceMetadata.objects.create(source_id="")
    with pytest.raises(IntegrityError), transaction.atomic():
        SourceMetadata.objects.create(source_id="x", first_seen=now, last_seen=now - timezone.timedelta(seconds=1))
    with pytest.raises(ValidationError) as excinfo:
        SourceMetadata(source_id="y", first_seen=now, last_seen=now - timezone.timedelta(seconds=1)).full_clean()
    assert "first_seen must not be after last_seen." in str(excinfo.value)


def test_severity_defaults_to_warning_and_follows_the_threshold_precedence():
    threshold_upsert(**GOOD)
    threshold_upsert(metric="cpu", severity="critical", **GOOD)
    threshold_upsert(source_id="host-1", metric="cpu", severity="info", **GOOD)
    rules = threshold_set_get()
    assert rules.for_key("host-9", "mem").severity == "warning"
    assert rules.for_key("host-9", "cpu").severity == "critical"
    assert rules.for_key("host-1", "cpu").severity == "info"
    with pytest.raises(IntegrityError), transaction.atomic():
        MetricThreshold.objects.create(metric="disk", severity="Not A Label", **GOOD)


def test_the_detector_reloads_only_when_thresholds_or_baselines_changed():
    from detection.stream.config_source import DetectionConfigLoader

    threshold_upsert(**DEMO_DEFAULT)
    BaselineStats.objects.create(source_id="h-1", metric="cpu", count=100, mean=5.0, m2=99.0)
    load = DetectionConfigLoader()
    first = load()
    assert first is not None and first.baseline_for("h-1", "cpu").mean == 5.0
    assert load() is None  # nothing changed: no full load
    BaselineStats.objects.filter(source_id="h-1").update(mean=6.0)  # even without touching updated_at
    assert load().baseline_for("h-1", "cpu").mean == 6.0
    assert load() is None
    threshold_upsert(**{**DEMO_DEFAULT, "z_threshold": 7.5})
    assert load().thresholds_for("h-1", "cpu").z_threshold == 7.5
    BaselineStats.objects.create(source_id="h-2", metric="cpu", count=10, mean=1.0, m2=9.0)
    assert load().baseline_for("h-2", "cpu") is not None
    BaselineStats.objects.filter(source_id="h-2").delete()
    assert load().baseline_for("h-2", "cpu") is None
