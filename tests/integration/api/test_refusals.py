"""What the API and the dashboard refuse, and how: a 4xx with a clear body, never a 500.

Regression tests for the two 500s found by the fault hunt of issue #10
(`GET /dashboard/key/%00/%00`, `OPTIONS /api/docs`), and the schema's declaration of every
refusal with its error shape.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

OPERATIONS = ("/health", "/thresholds", "/baselines", "/sources", "/drift/status", "/drift/events",
              "/drift/series", "/drift/report")


@pytest.mark.parametrize("path", [
    "/dashboard/key/%00/%00",
    "/dashboard/key/a%00/cpu",
    "/dashboard/key/host-a/cpu%01",
    "/dashboard/key/" + "s" * 257 + "/cpu",
])
def test_dashboard_page_of_a_key_that_cannot_exist_is_404(client, clickhouse, path):
    response = client.get(path)
    assert response.status_code == 404


def test_dashboard_page_of_a_printable_unknown_key_renders(client, clickhouse):
    assert client.get("/dashboard/key/no-such-host/cpu").status_code == 200


@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/"])
def test_options_on_swagger_ui_lists_the_allowed_methods(client, path):
    response = client.options(path)
    assert response.status_code == 200
    assert {m.strip() for m in response["Allow"].split(",")} >= {"GET", "HEAD", "OPTIONS"}
    assert response.content == b""


def test_swagger_ui_refuses_writes_with_405(client):
    assert client.post("/api/docs/").status_code == 405


def test_unknown_format_is_404_and_unacceptable_accept_is_406_with_a_detail(api, clickhouse):
    not_found = api.get("/drift/status", {"format": "xml"})
    assert not_found.status_code == 404 and not_found.json()["detail"]
    refused = api.get("/drift/status", HTTP_ACCEPT="application/xml")
    assert refused.status_code == 406 and refused.json()["detail"]


def test_schema_declares_every_refusal_with_its_error_shape(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"] and error["properties"]["detail"]["type"] == "string"
    for path in OPERATIONS:
        responses = schema["paths"][path]["get"]["responses"]
        for code in ("404", "406"):
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (path, code)
            assert responses[code]["description"], (path, code)
        if path != "/health":
            for code in ("400", "401", "403", "503"):
                assert code in responses, (path, code)
            assert "additionalProperties" in responses["400"]["content"]["application/json"]["schema"], path
