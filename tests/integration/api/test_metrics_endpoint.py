"""/metrics: Prometheus counters and latency histograms by route, method and status."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def samples(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_by_route_method_status(api, clickhouse):
    before = samples(api)
    api.get("/drift/status")
    api.get("/drift/status/")
    api.get("/drift/status", {"limit": "0"})
    api.post("/drift/status", {})
    api.get("/no/such/page")
    after = samples(api)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"route": "drift-status", "method": "GET", "status": "200"}
    assert delta("driftwatch_api_requests_total", **ok) == 2
    assert delta("driftwatch_api_requests_total", route="drift-status", method="GET", status="400") == 1
    assert delta("driftwatch_api_requests_total", route="drift-status", method="POST", status="405") == 1
    assert delta("driftwatch_api_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("driftwatch_api_request_duration_seconds_count", **ok) == 2
    assert delta("driftwatch_api_request_duration_seconds_bucket", **ok, le="+Inf") == 2
    assert delta("driftwatch_api_request_duration_seconds_sum", **ok) > 0
