"""The admin renders for a superuser and shows validation messages (real Postgres)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config_app.models import BaselineStats, MetricThreshold, SourceMetadata
from config_app.services.thresholds import DEMO_DEFAULT

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    threshold = MetricThreshold.objects.create(metric="cpu", **DEMO_DEFAULT)
    baseline = BaselineStats.objects.create(source_id="host-1", metric="cpu", count=10, mean=1.0, m2=9.0)
    source = SourceMetadata.objects.create(source_id="host-1", source_type="stable")
    return {"metricthreshold": threshold, "baselinestats": baseline, "sourcemetadata": source}


@pytest.mark.parametrize("model", ["metricthreshold", "baselinestats", "sourcemetadata"])
def test_changelist_and_change_page_render(admin_client, rows, model):
    changelist = admin_client.get(reverse(f"admin:config_app_{model}_changelist"))
    assert changelist.status_code == 200
    obj = rows[model]
    assert str(obj.pk) in changelist.content.decode()
    change = admin_client.get(reverse(f"admin:config_app_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    add = admin_client.get(reverse(f"admin:config_app_{model}_add"))
    assert add.status_code == 200


def test_changelist_search_and_filter(admin_client, rows):
    url = reverse("admin:config_app_baselinestats_changelist")
    assert "host-1" in admin_client.get(url, {"q": "host-1"}).content.decode()
    assert "0 baseline stats" in admin_client.get(url, {"q": "nope"}).content.decode()
    assert admin_client.get(reverse("admin:config_app_metricthreshold_changelist"), {"enabled__exact": "1"}).status_code == 200


def test_admin_shows_validation_messages(admin_client):
    data = {**DEMO_DEFAULT, "metric": "cpu", "source_id": "", "z_threshold": "0", "min_samples": "1", "enabled": "on"}
    response = admin_client.post(reverse("admin:config_app_metricthreshold_add"), data)
    assert response.status_code == 200  # re-rendered form, nothing saved
    page = response.content.decode()
    assert "Must be greater than 0." in page
    assert "greater than or equal to 2" in page
    assert not MetricThreshold.objects.exists()


def test_admin_saves_a_valid_row(admin_client):
    data = {**DEMO_DEFAULT, "metric": "mem", "source_id": "", "enabled": "on", "severity": "critical"}
    response = admin_client.post(reverse("admin:config_app_metricthreshold_add"), data)
    assert response.status_code == 302
    row = MetricThreshold.objects.get(metric="mem")
    assert row.z_threshold == DEMO_DEFAULT["z_threshold"] and row.severity == "critical"


def test_admin_rejects_a_severity_that_is_not_a_label_value(admin_client):
    data = {**DEMO_DEFAULT, "metric": "mem", "source_id": "", "enabled": "on", "severity": "Page Me!"}
    response = admin_client.post(reverse("admin:config_app_metricthreshold_add"), data)
    assert response.status_code == 200 and "Lower-case letters" in response.content.decode()
    assert not MetricThreshold.objects.exists()


def test_admin_requires_login(client):
    response = client.get(reverse("admin:config_app_metricthreshold_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_threshold_page_shows_the_method_the_target_and_the_derived_thresholds(admin_client, rows):
    row = rows["metricthreshold"]
    row.method = "cusum"
    row.save()
    page = admin_client.get(reverse("admin:config_app_metricthreshold_change", args=[row.pk])).content.decode()
    assert 'name="target_false_alarms_per_100k"' in page and 'name="method"' in page
    expected = " / ".join(f"{h:.2f}" for h in row.thresholds().cusum_decision_thresholds)
    assert expected in page
    changelist = admin_client.get(reverse("admin:config_app_metricthreshold_changelist"), {"method__exact": "cusum"})
    assert changelist.status_code == 200 and "cusum" in changelist.content.decode()


def test_admin_rejects_a_bad_cusum_value_with_the_rule(admin_client):
    data = {**DEMO_DEFAULT, "metric": "io", "source_id": "", "method": "cusum", "std_down_ratio": "1.5", "enabled": "on"}
    response = admin_client.post(reverse("admin:config_app_metricthreshold_add"), data)
    assert response.status_code == 200  # the form again, with the error
    assert "std_down_ratio must be a finite number &gt; 0 and &lt; 1" in response.content.decode()
    assert not MetricThreshold.objects.filter(metric="io").exists()
