"""API_TOKEN_AUTH: off by default (open reads); on = DRF token or a logged-in session. The admin
always needs a login."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PROTECTED = ["/thresholds", "/baselines", "/sources", "/drift/status", "/drift/events", "/drift/series?source_id=a&metric=b"]


@pytest.fixture
def token(django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user(username="reader", password="s3cret-pass")
    return Token.objects.create(user=user).key


@pytest.mark.parametrize("path", PROTECTED)
def test_off_by_default_anyone_reads(api, clickhouse, path):
    assert api.get(path).status_code == 200


@pytest.mark.parametrize("path", PROTECTED)
def test_on_requires_a_token(api, clickhouse, settings, token, path):
    settings.API_TOKEN_AUTH = True
    anonymous = api.get(path)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert api.get(path, HTTP_AUTHORIZATION="Token not-a-real-token").status_code == 401
    assert api.get(path, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200


def test_on_a_logged_in_session_reads_too(client, clickhouse, settings, admin_user):
    settings.API_TOKEN_AUTH = True
    client.force_login(admin_user)
    assert client.get("/drift/status").status_code == 200


def test_on_health_stays_public(api, clickhouse, settings):
    settings.API_TOKEN_AUTH = True
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    assert api.get("/health").status_code == 200


def test_on_dashboard_redirects_to_the_admin_login(client, clickhouse, settings, admin_user):
    settings.API_TOKEN_AUTH = True
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(admin_user)
    assert client.get("/dashboard/").status_code == 200


def test_on_schema_lists_token_security(api, settings):
    settings.API_TOKEN_AUTH = True
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert {"tokenAuth": []} in schema["paths"]["/drift/status"]["get"]["security"]


@pytest.mark.parametrize("api_token_auth", [False, True])
def test_admin_always_requires_login(client, settings, api_token_auth):
    settings.API_TOKEN_AUTH = api_token_auth
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
