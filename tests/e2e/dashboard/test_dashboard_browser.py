"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright) against a
live server with rows in real PostgreSQL and chDB. Screenshots land in artifacts/ (git-ignored).

Synchronisation is by polling page state with deadlines (wait_for_function), never by sleeping.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from config_app.models import BaselineHistory, BaselineStats, MetricThreshold
from tests.integration.api.builders import (
    EVENT_COLUMNS,
    RAW_COLUMNS,
    STATUS_COLUMNS,
    THRESHOLD,
    event_row,
    raw_row,
    status_row,
)

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DEADLINE_MS = 20_000

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
N_POINTS = 240  # one per second; the level shifts from 10 to 16 at second 150
KEYS = [
    ("host-a", "cpu.user", "DRIFTING"),
    ("host-a", "mem.used", "NORMAL"),
    ("host-b", "cpu.user", "NORMAL"),
    ("host-b", "disk.io", "INITIALIZING"),
    ("host-c", "cpu.user", "DRIFTING"),
    ("sensor-7", "temp", "NORMAL"),
]


def _insert(client, table, columns, rows):
    client.insert(f"{settings.CLICKHOUSE_DATABASE}.{table}", [[r[c] for c in columns] for r in rows], column_names=list(columns))


@pytest.fixture
def data(clickhouse, transactional_db):
    import random

    rng = random.Random(7)
    _insert(
        clickhouse,
        "drift_status_current",
        STATUS_COLUMNS,
        [
            status_row(s, m, state, at=T0 + timedelta(seconds=N_POINTS - 1), z_score=(6.3 if state == "DRIFTING" else 0.4 + i / 10),
                       rolling_mean=16.0 if state == "DRIFTING" else 10.0)
            for i, (s, m, state) in enumerate(KEYS)
        ],
    )
    raw = [
        raw_row(10_000 + i, "host-a", "cpu.user", (10.0 if i < 150 else 16.0) + rng.gauss(0, 1.0), T0 + timedelta(seconds=i))
        for i in range(N_POINTS)
    ]
    _insert(clickhouse, "raw_events", RAW_COLUMNS, raw)
    _insert(
        clickhouse,
        "drift_events",
        EVENT_COLUMNS,
        [
            event_row(1, "host-a", "cpu.user", "DRIFT_START", at=T0 + timedelta(seconds=60)),
            event_row(2, "host-a", "cpu.user", "DRIFT_END", at=T0 + timedelta(seconds=90), z_score=0.8),
            event_row(3, "host-a", "cpu.user", "DRIFT_START", at=T0 + timedelta(seconds=158), z_score=5.9),
        ],
    )
    MetricThreshold.objects.create(source_id="", metric="", **{**THRESHOLD, "window_seconds": 20.0, "z_threshold": 2.0})
    BaselineStats.objects.create(source_id="host-a", metric="cpu.user", count=1001, mean=10.0, m2=1000.0)  # std 1


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():  # fail loudly: a skip would hide a setup that lost its browser
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.js_errors = errors
        yield page
        browser.close()


def rows(page):
    return page.eval_on_selector_all(
        "#status-table tbody tr[data-state]", "trs => trs.map(tr => [tr.dataset.sourceId, tr.dataset.metric, tr.dataset.state])"
    )


def test_keys_table_renders_sorts_filters_and_refreshes(live_server, data, page):
    page.goto(f"{live_server.url}/dashboard/?refresh=1")
    page.wait_for_function("window.driftDashboard && window.driftDashboard.refreshes >= 1", timeout=DEADLINE_MS)
    assert [tuple(r) for r in rows(page)] == [
        ("host-a", "cpu.user", "DRIFTING"), ("host-c", "cpu.user", "DRIFTING"),
        ("host-a", "mem.used", "NORMAL"), ("host-b", "cpu.user", "NORMAL"), ("sensor-7", "temp", "NORMAL"),
        ("host-b", "disk.io", "INITIALIZING"),
    ]
    colour = page.eval_on_selector("#status-table tbody tr[data-state=DRIFTING] .badge", "b => getComputedStyle(b).color")
    assert colour == "rgb(198, 40, 40)"
    assert page.inner_text("#state-counts [data-state=DRIFTING] b") == "2"
    page.screenshot(path=str(ARTIFACTS / "dashboard-index.png"), full_page=True)

    page.click("th[data-sort=source_id]")  # ascending by source_id
    page.wait_for_function(
        "document.querySelector('#status-table tbody tr').dataset.sourceId === 'host-a' && "
        "document.querySelectorAll('#status-table tbody tr')[5].dataset.sourceId === 'sensor-7'",
        timeout=DEADLINE_MS,
    )
    page.click("th[data-sort=source_id]")  # and descending
    page.wait_for_function("document.querySelector('#status-table tbody tr').dataset.sourceId === 'sensor-7'", timeout=DEADLINE_MS)

    page.fill("input[name=metric_prefix]", "cpu")
    page.wait_for_function("document.querySelectorAll('#status-table tbody tr[data-state]').length === 3", timeout=DEADLINE_MS)
    assert {r[1] for r in rows(page)} == {"cpu.user"}
    page.select_option("select[name=state]", "DRIFTING")
    page.wait_for_function("document.querySelectorAll('#status-table tbody tr[data-state]').length === 2", timeout=DEADLINE_MS)

    # A new key appears on its own at the next refresh.
    from detection.clickhouse.client import get_client

    _insert(get_client(), "drift_status_current", STATUS_COLUMNS, [status_row("host-d", "cpu.user", "DRIFTING")])
    page.wait_for_function("document.querySelectorAll('#status-table tbody tr[data-state]').length === 3", timeout=DEADLINE_MS)
    assert page.js_errors == []


def test_key_page_draws_values_rolling_mean_band_and_drift_periods(live_server, data, page):
    page.goto(f"{live_server.url}/dashboard/key/host-a/cpu.user/?refresh=1")
    page.wait_for_function("window.driftDashboard && window.driftDashboard.refreshes >= 1", timeout=DEADLINE_MS)
    chart = page.evaluate(
        """() => {
            const c = window.driftDashboard.chart;
            const ann = c.options.plugins.annotation.annotations;
            return {
                values: c.data.datasets[0].data.length,
                rolling: c.data.datasets[1].data.length,
                lastRolling: c.data.datasets[1].data.at(-1).y,
                baseline: c.data.datasets[2].data.map(p => p.y),
                band: ann.band ? [ann.band.yMin, ann.band.yMax] : null,
                periods: Object.keys(ann).filter(k => k.startsWith('drift')).map(k => [ann[k].xMin, ann[k].xMax]),
                xMax: c.scales.x.max,
                yMin: c.scales.y.min,
                yMax: c.scales.y.max,
            };
        }"""
    )
    t0_ms = int(T0.timestamp() * 1000)
    assert chart["values"] == N_POINTS and chart["rolling"] == N_POINTS
    assert 14.5 < chart["lastRolling"] < 17.5  # the mean of the last 20 s after the shift to 16
    assert chart["baseline"] == [10.0, 10.0]
    assert chart["band"] == [8.0, 12.0]  # baseline mean ± z_threshold (2) × std (1)
    assert chart["periods"] == [[t0_ms + 60_000, t0_ms + 90_000], [t0_ms + 158_000, t0_ms + (N_POINTS - 1) * 1000]]
    assert chart["yMin"] <= 8.0 and chart["yMax"] >= 16.0
    # The canvas really has pixels of the rolling-mean line and of the drift shading on it.
    painted = page.evaluate(
        """() => {
            const canvas = document.getElementById('series-chart');
            const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let blue = 0, red = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i] < 40 && d[i + 1] > 80 && d[i + 1] < 130 && d[i + 2] > 190) blue++;   // rolling mean #0969da
                // drift shade rgba(198, 40, 40, 0.16) on the (transparent) canvas, alone or under the band
                if (d[i] > 150 && d[i + 1] < 110 && d[i + 2] < 110 && d[i + 3] > 20 && d[i + 3] < 120) red++;
            }
            return {blue, red};
        }"""
    )
    assert painted["blue"] > 200 and painted["red"] > 2000, painted
    events = page.eval_on_selector_all("#events-table tbody tr", "trs => trs.map(tr => tr.cells[1].textContent)")
    assert events == ["DRIFT_START", "DRIFT_END", "DRIFT_START"]
    assert page.inner_text("#key-state") == "DRIFTING"
    page.screenshot(path=str(ARTIFACTS / "dashboard-key.png"), full_page=True)

    # The page refreshes itself: a drift end written now shows up without a reload.
    from detection.clickhouse.client import get_client

    _insert(get_client(), "drift_events", EVENT_COLUMNS, [event_row(4, "host-a", "cpu.user", "DRIFT_END", at=T0 + timedelta(seconds=200))])
    page.wait_for_function("document.querySelectorAll('#events-table tbody tr').length === 4", timeout=DEADLINE_MS)
    page.wait_for_function(
        f"window.driftDashboard.chart.options.plugins.annotation.annotations.drift1.xMax === {t0_ms + 200_000}",
        timeout=DEADLINE_MS,
    )

    # A new baseline version, written by a DAG run, shows up with its run id without a reload.
    assert page.inner_text("#baseline-history-table tbody") == "No baseline versions for this key yet."
    run_id = "scheduled__2024-05-01T12:04:00+00:00"

    def write_version():  # the ORM refuses to run in Playwright's event-loop thread
        from django.db import connection

        baseline = BaselineStats.objects.get(source_id="host-a", metric="cpu.user")
        BaselineHistory.objects.create(baseline=baseline, events=baseline.count, count=baseline.count,
                                       mean=baseline.mean, m2=baseline.m2, high_water_mark=T0 + timedelta(minutes=4),
                                       run_id=run_id)
        connection.close()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(write_version).result(timeout=30)
    page.wait_for_function(
        f"document.querySelector('#baseline-history-table tbody td.run-id')?.textContent === '{run_id}'",
        timeout=DEADLINE_MS,
    )
    assert page.inner_text("#fact-baseline").endswith(f"by DAG run {run_id}")
    assert page.js_errors == []
