"""Prometheus metrics of the HTTP API: a middleware that counts and times requests, and /metrics.

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
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

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


@csrf_exempt  # it writes nothing; a POST must get its 405, not a CSRF 403
def metrics_view(request):
    """The Prometheus text exposition of this process's registry (GET/HEAD only)."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
