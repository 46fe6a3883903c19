"""The dashboard pages as the server renders them (the browser test is in tests/e2e/dashboard)."""

from __future__ import annotations

import re

import pytest

from config_app.models import BaselineHistory, BaselineStats, MetricThreshold
from tests.integration.api.builders import THRESHOLD, status_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(ch_insert):
    ch_insert(
        "drift_status_current",
        [status_row("host-a", "cpu.user", "DRIFTING"), status_row("host-b", "cpu.user", "NORMAL"), status_row("host-c", "mem", "INITIALIZING")],
    )


def script_sources(html):
    return re.findall(r'<script[^>]+src="([^"]+)"', html)


def test_index_renders_every_key_colour_coded_drifting_first(client, keys):
    response = client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr class="state-(\w+)" data-source-id="([^"]+)"', html)
    assert rows == [("DRIFTING", "host-a"), ("NORMAL", "host-b"), ("INITIALIZING", "host-c")]
    assert 'href="/dashboard/key/host-a/cpu.user"' in html
    assert re.search(r'data-state="DRIFTING">DRIFTING <b>1</b>', html)
    assert client.get("/dashboard").status_code == 200


def test_index_without_keys(client, clickhouse):
    assert "No keys yet." in client.get("/dashboard/").content.decode()


def test_key_page_renders_the_facts_and_the_chart_canvas(client, keys):
    MetricThreshold.objects.create(source_id="", metric="cpu.user", **THRESHOLD)
    BaselineStats.objects.create(source_id="host-a", metric="cpu.user", count=11, mean=10.0, m2=10.0)
    html = client.get("/dashboard/key/host-a/cpu.user/").content.decode()
    assert 'id="series-chart"' in html and 'data-series-url="/drift/series"' in html
    assert 'class="badge state-DRIFTING">DRIFTING' in html
    assert "mean 10.0000, std 1.0000, n=11" in html
    assert "window 30.0 s, z &gt; 2.0" in html


def test_key_page_lists_the_baseline_versions_with_the_dag_run_that_produced_each(client, keys):
    from datetime import UTC, datetime

    baseline = BaselineStats.objects.create(source_id="host-a", metric="cpu.user", count=30, mean=10.0, m2=29.0)
    hwm = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    BaselineHistory.objects.create(baseline=baseline, events=20, count=20, mean=9.5, m2=19.0, high_water_mark=hwm)
    BaselineHistory.objects.create(baseline=baseline, events=10, count=30, mean=10.0, m2=29.0, high_water_mark=hwm,
                                   run_id="scheduled__2026-12-01T20:01:00+00:00")

    html = client.get("/dashboard/key/host-a/cpu.user/").content.decode()

    assert 'id="baseline-history-table"' in html
    table = html[html.index('id="baseline-history-table"'):]
    assert table.index("scheduled__2026-12-01T20:01:00+00:00") < table.index("run_stack timer / update_baselines")
    assert "n=30, by DAG run scheduled__2026-12-01T20:01:00+00:00" in html


def test_key_names_are_escaped(client, ch_insert):
    ch_insert("drift_status_current", [status_row("<script>alert(1)</script>", "m")])
    html = client.get("/dashboard/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_every_script_and_style_is_served_locally(client, keys):
    for path in ("/dashboard/", "/dashboard/key/host-a/cpu.user/", "/api/docs/"):
        html = client.get(path).content.decode()
        links = re.findall(r'(?:src|href)="([^"]*)"', html)
        assert not [u for u in links if "//" in u], path  # no other host at all
        assets = script_sources(html) + re.findall(r'<link rel="stylesheet"[^>]+href="([^"]+)"', html)
        assert assets, path
        for src in assets:
            assert src.startswith("/static/"), (path, src)  # no CDN, no other host
            assert client.get(src).status_code == 200, f"{src} not served (node_modules missing? run npm ci)"
    # Chart.js and the annotation plugin come from node_modules (npm ci), via STATICFILES_DIRS.
    chart = client.get("/static/vendor/chart.js/chart.umd.min.js")
    assert b"Chart.js v4" in b"".join(chart.streaming_content)[:300]


def test_pages_link_to_the_alertmanager_ui_when_alerting_is_configured(client, keys, settings):
    assert 'id="alertmanager-link"' not in client.get("/dashboard/").content.decode()
    settings.ALERTMANAGER_UI_URL = "http://user:secret@am.example:9093/"
    for path in ("/dashboard/", "/dashboard/key/host-a/cpu.user/", "/dashboard/report/"):
        html = client.get(path).content.decode()
        assert '<a href="http://am.example:9093/" id="alertmanager-link"' in html, path
        assert "secret" not in html
