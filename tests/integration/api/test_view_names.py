"""Every endpoint has a human name: the ``name`` of its OPTIONS answer and the title of its
browsable-API page (not the class name, "Drift Status List Api")."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

NAMES = {
    "/health": "Health",
    "/thresholds": "Thresholds",
    "/baselines": "Baselines",
    "/sources": "Sources",
    "/drift/status": "Drift status",
    "/drift/events": "Drift events",
    "/drift/series": "Drift series",
    "/drift/report": "Drift report",
}


@pytest.mark.parametrize(("path", "name"), NAMES.items())
def test_options_names_the_endpoint(api, path, name):
    response = api.options(path)
    assert response.status_code == 200
    assert response.json()["name"] == name


@pytest.mark.parametrize("path", ["/thresholds", "/drift/status"])
def test_browsable_page_is_titled_with_the_name(api, clickhouse, path):
    html = api.get(path, {"format": "api"}).content.decode()
    assert f"<title>{NAMES[path]} – Django REST framework</title>" in html
    assert "List Api" not in html
