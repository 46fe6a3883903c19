"""The baseline pages of the admin: stats with their history, read-only history and fold state."""

from __future__ import annotations

import pytest
from tests.integration.baselines.baseline_support import T0_MS, Event, at
from django.urls import reverse

from config_app.admin import HISTORY_INLINE_ROWS
from config_app.models import BaselineFoldState, BaselineHistory, BaselineStats
from detection.baselines.fold import baseline_fold

pytestmark = pytest.mark.django_db


@pytest.fixture
def folded(raw_events):
    """Two folds: host-1/cpu gets two history rows."""
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS), Event(2, "host-1", "cpu", 3.0, T0_MS + 1)],
                      ingest_ms=T0_MS + 1000)
    baseline_fold(until=at(T0_MS + 60_000), safety_lag_seconds=0)
    raw_events.insert([Event(3, "host-1", "cpu", 8.0, T0_MS + 2)], ingest_ms=T0_MS + 61_000)
    baseline_fold(until=at(T0_MS + 120_000), safety_lag_seconds=0)
    return BaselineStats.objects.get(source_id="host-1", metric="cpu")


def test_stats_change_page_shows_the_history_inline(admin_client, folded):
    page = admin_client.get(reverse("admin:config_app_baselinestats_change", args=[folded.pk])).content.decode()
    assert f"History (latest {HISTORY_INLINE_ROWS} updates)" in page
    assert "all 2 updates" in page
    assert "1.41421" in page and "3.60555" in page  # std after each update: {1,3} then {1,3,8}
    changelist = admin_client.get(reverse("admin:config_app_baselinestats_changelist")).content.decode()
    assert "3.60555" in changelist  # std column


def test_inline_shows_only_the_latest_updates(admin_client, folded):
    BaselineHistory.objects.bulk_create([
        BaselineHistory(baseline=folded, events=1, count=i, mean=float(i), m2=0.0, high_water_mark=at(T0_MS))
        for i in range(HISTORY_INLINE_ROWS + 5)
    ])
    response = admin_client.get(reverse("admin:config_app_baselinestats_change", args=[folded.pk]))
    assert response.status_code == 200
    assert f"all {HISTORY_INLINE_ROWS + 7} updates" in response.content.decode()
    inline = response.context["inline_admin_formsets"][0]
    assert len(inline.formset.forms) == HISTORY_INLINE_ROWS


def test_history_changelist_is_read_only_and_filters_by_key(admin_client, folded):
    url = reverse("admin:config_app_baselinehistory_changelist")
    response = admin_client.get(url, {"baseline__id__exact": folded.pk})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    assert admin_client.get(reverse("admin:config_app_baselinehistory_add")).status_code == 403
    history = BaselineHistory.objects.first()
    change = admin_client.post(reverse("admin:config_app_baselinehistory_change", args=[history.pk]), {"count": 0})
    assert change.status_code == 403
    assert BaselineHistory.objects.get(pk=history.pk).count == history.count


def test_fold_state_page_shows_the_watermark(admin_client, folded):
    state = BaselineFoldState.objects.get()
    page = admin_client.get(reverse("admin:config_app_baselinefoldstate_changelist")).content.decode()
    assert state.high_water_mark == at(T0_MS + 120_000)
    assert "Jan. 1, 2024" in page


def test_stats_page_still_saves_after_a_fold(admin_client, folded):
    """Saving a stats row posts the read-only history inline's management form too."""
    url = reverse("admin:config_app_baselinestats_change", args=[folded.pk])
    data = {
        "source_id": "host-1", "metric": "cpu", "count": folded.count, "mean": folded.mean, "m2": folded.m2,
        "window_start_0": "", "window_start_1": "", "window_end_0": "", "window_end_1": "",
        "history-TOTAL_FORMS": "0", "history-INITIAL_FORMS": "0",
        "history-MIN_NUM_FORMS": "0", "history-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert BaselineStats.objects.get(pk=folded.pk).window_start is None


def test_a_baseline_with_history_can_be_deleted(admin_client, folded):
    url = reverse("admin:config_app_baselinestats_delete", args=[folded.pk])
    confirm = admin_client.get(url).content.decode()
    assert "Baseline history: 2" in confirm
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not BaselineStats.objects.exists() and not BaselineHistory.objects.exists()
