"""Prometheus metrics of the HTTP API: a middleware that counts and times requests, and /metrics.

/metrics also exposes the drift state of every key (``API_METRICS_KEY_GAUGES``, on by default),
read from ``drift_status_current FINAL`` at scrape time, so it is right however many detector
processes write it: ``driftwatch_key_drifting{source_id,metric,method}`` (1 while DRIFTING, else
0), ``driftwatch_key_z_score`` and ``driftwatch_key_std_ratio`` (keys without a score yet are left
out of those two). Cardinality: one series per key and gauge (10,000 keys = 30,000 series,
one ~20 ms query per scrape); ``driftwatch_key_gauges_up`` is 0 when ClickHouse could not be read.

Labels are bounded: ``route`` is the URL pattern's name (``drift-status``, ``health``, …),
``static`` for static files and ``unmatched`` for anything no pattern resolved (404s), never the
raw path. The registry is the process's default one, which is right for the embedded mode's
single process and for gunicorn with one worker and threads (the production setting, because
chDB allows one process per directory). Several worker processes would need
prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
import logging
import math

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from detection.core.state import DriftState

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "driftwatch_api_requests",
    "HTTP requests answered by the monitoring API, by route, method and status code.",
    ("route", "method", "status"),
)
LATENCY = Histogram(
    "driftwatch_api_request_duration_seconds",
    "Time from the request entering the middleware to the response leaving it.",
    ("route", "method", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"})


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    static_url = "/" + (settings.STATIC_URL or "static/").lstrip("/")
    if request.path.startswith(static_url):
        return "static"
    return "unmatched"


class PrometheusMetricsMiddleware:
    """Put it first in MIDDLEWARE so the latency covers every other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        labels = (_route(request), method, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response


class KeyStateCollector:
    """The per-key gauges, collected from ClickHouse on every scrape (never cached)."""

    def collect(self):
        from detection.alerting.alerts import key_method
        from detection.clickhouse.alert_readers import key_state_list
        from detection.clickhouse.client import get_client

        up = GaugeMetricFamily("driftwatch_key_gauges_up", "1 if the per-key drift state could be read from ClickHouse.")
        labels = ("source_id", "metric", "method")
        drifting = GaugeMetricFamily("driftwatch_key_drifting", "1 while the key is DRIFTING, else 0.", labels=labels)
        z_score = GaugeMetricFamily("driftwatch_key_z_score", "The key's latest z-score.", labels=labels)
        std_ratio = GaugeMetricFamily("driftwatch_key_std_ratio", "The key's latest rolling std / baseline std.",
                                      labels=labels)
        try:
            rows = key_state_list(get_client(), database=settings.CLICKHOUSE_DATABASE)
        except Exception as exc:  # a scrape must still answer (with up = 0)
            logger.warning("metrics: per-key drift state unreadable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        for row in rows:
            values = [str(row["source_id"]), str(row["metric"]), key_method(row)]
            drifting.add_metric(values, 1.0 if row["state"] == DriftState.DRIFTING.value else 0.0)
            for family, name in ((z_score, "z_score"), (std_ratio, "std_ratio")):
                value = row.get(name)
                if value is not None and math.isfinite(value):
                    family.add_metric(values, float(value))
        up.add_metric([], 1)
        yield from (up, drifting, z_score, std_ratio)


_KEY_REGISTRY = CollectorRegistry(auto_describe=False)
_KEY_REGISTRY.register(KeyStateCollector())


@csrf_exempt  # it writes nothing; a POST must get its 405, not a CSRF 403
def metrics_view(request):
    """The Prometheus text exposition of this process's registry (GET/HEAD only)."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    body = generate_latest(REGISTRY)
    if settings.API_METRICS_KEY_GAUGES:
        body += generate_latest(_KEY_REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
