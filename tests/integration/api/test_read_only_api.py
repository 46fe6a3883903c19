"""Every route is read-only: any write method is a 405 (with token auth on or off)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

API_PATHS = ["/health", "/thresholds", "/baselines", "/sources", "/drift/status", "/drift/events", "/drift/series"]
OTHER_PATHS = ["/metrics", "/dashboard/", "/dashboard/key/host-a/cpu.user/", "/api/schema/", "/api/docs/"]
WRITE_METHODS = ["post", "put", "patch", "delete"]


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("path", API_PATHS + [p + "/" for p in API_PATHS] + OTHER_PATHS)
def test_write_methods_are_405(api, clickhouse, path, method):
    response = getattr(api, method)(path, {"source_id": "x"}, format="json")
    assert response.status_code == 405, (path, method, response.status_code)
    assert "GET" in response["Allow"] and "POST" not in response["Allow"]


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("path", API_PATHS)
def test_write_methods_are_405_before_authentication(api, clickhouse, settings, path, method):
    settings.API_TOKEN_AUTH = True
    response = getattr(api, method)(path, {}, format="json")
    assert response.status_code == 405


def test_write_with_a_csrf_checking_session_is_still_405(clickhouse, admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post("/drift/status", {"state": "NORMAL"}).status_code == 405


@pytest.mark.parametrize("path", ["/thresholds", "/drift/status"])
def test_head_and_options_are_allowed(api, clickhouse, path):
    assert api.head(path).status_code == 200
    options = api.options(path)
    assert options.status_code == 200
    assert options["Allow"] == "GET, HEAD, OPTIONS"
