"""Hostile requests and schemathesis against a live API; every answer >= 500 (or no answer) is
counted as a failure. A 503 from /health is the documented outage answer, not a failure, but
only while a store is actually down; here every store is up, so any 5xx counts."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import sys
from collections import Counter
from urllib.parse import urlsplit

from chaos.harness import say

API_PATHS = ("/health", "/thresholds", "/baselines", "/sources", "/drift/status", "/drift/events", "/drift/series",
             "/drift/report")
PAGES = ("/dashboard/", "/dashboard/report/", "/dashboard/key/host/cpu", "/api/schema/", "/api/docs/", "/metrics",
         "/admin/login/")
PARAMS = ("limit", "offset", "cursor", "since", "until", "source_id", "metric", "metric_prefix", "state",
          "event_type", "ordering", "grace_seconds", "format", "minutes", "refresh", "enabled", "active",
          "source_type", "source_id_prefix")
VALUES = (
    "-1", "0", "-9223372036854775809", "99999999999999999999999999", "1e309", "NaN", "inf", "abc", "", "%00", "1%00",
    "%ED%A0%80", "%FF%FE", "%C0%AF", "..%2F..%2Fetc%2Fpasswd", "A" * 5000, "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "-0001-01-01", "2024-13-45T99:99:99Z",
    "2024-01-01T00:00:00%2B25:00", "1e10", "%27%3B%20DROP%20TABLE%20raw_events%3B--", "true%00", "[]", "{}",
    "eyJ0IjogMX0", "eyJ0Ijo5OTk5OTk5OTk5OTk5OTk5OTk5OTksImkiOi0xLCJiIjp0cnVlfQ", "!!!!", "%E2%80%AE", "%F0%9F%92%A9",
)
RAW_PATHS = (
    "/dashboard/key/%00/%00", "/dashboard/key/%ED%A0%80/%FF", "/dashboard/key/..%2F..%2Fetc/passwd",
    "/dashboard/key/" + "x" * 3000 + "/cpu", "/../../etc/passwd", "/static/../driftsite/settings.py",
    "/static/%2e%2e/%2e%2e/manage.py", "//etc/passwd", "/drift/status/%00", "/drift/%ED%A0%80", "/%FF",
    "/api/schema/?format=xml", "/api/schema/?format=openapi-json", "/drift/status?limit=1&limit=2&limit=-1",
    "/drift/events?cursor=" + "A" * 199, "/drift/events?cursor=" + "A" * 5000, "/dashboard/report/?minutes=1e400",
    "/dashboard/?refresh=1e400", "/dashboard/key/a/b?refresh=-99999999999999999999",
)
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE")
HEADERS = (
    {"Accept": "application/xml"}, {"Accept": "*/*;q=abc"}, {"Accept": "text/html"},
    {"Content-Type": "application/json", "Content-Length": "5"}, {"Authorization": "Token %00"},
    {"Authorization": "Token " + "x" * 4000}, {"Cookie": "sessionid=%00; csrftoken=\x7f"}, {"Host": "evil.example"},
    {"X-Forwarded-For": "::::"}, {"Accept-Language": "\x00"},
)


def hostile_requests() -> list[tuple[str, str, dict, bytes | None]]:
    """(method, raw path with query, headers, body), in a fixed order."""
    out: list[tuple[str, str, dict, bytes | None]] = []
    for path, param, value in itertools.product(API_PATHS, PARAMS, VALUES):
        out.append(("GET", f"{path}?{param}={value}", {}, None))
    for path, param in itertools.product(PAGES, ("refresh", "minutes", "format", "page")):
        for value in VALUES[:12]:
            out.append(("GET", f"{path}?{param}={value}", {}, None))
    out.extend(("GET", p, {}, None) for p in RAW_PATHS)
    for path, method in itertools.product(API_PATHS + PAGES, METHODS):
        out.append((method, path, {}, b'{"x": 1}' if method in ("POST", "PUT", "PATCH") else None))
    for path, headers in itertools.product(API_PATHS + PAGES[:3], HEADERS):
        out.append(("GET", path, headers, b"{bad!" if "Content-Length" in headers else None))
    return out


def send(base_url: str, method: str, path: str, headers: dict, body: bytes | None, timeout: float = 30.0) -> int | None:
    """One raw request (the path is sent as is, unquoted); the status, or None if nothing answered."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value.encode("latin-1", "replace"))
        if body is not None and "Content-Length" not in headers:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def run_hostile(base_url: str, *, limit: int | None = None) -> Counter:
    statuses: Counter = Counter()
    failures = []
    requests = hostile_requests()
    if limit is not None:
        step = max(1, len(requests) // limit)
        requests = requests[::step][:limit]
    for method, path, headers, body in requests:
        status = send(base_url, method, path, headers, body)
        statuses[status] += 1
        if status is None or status >= 500:
            failures.append((status, method, path[:120], headers))
    for failure in failures[:20]:
        say(f"api_fuzz: hostile request answered {failure[0]}: {failure[1:]}")
    return statuses


def run_schemathesis(base_url: str, *, max_examples: int = 25) -> Counter:
    """Valid and invalid requests generated from the live schema, every operation."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    statuses: Counter = Counter()
    try:
        schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")
    except Exception as exc:  # the schema itself could not be served: that is a failed request
        say(f"api_fuzz: loading the schema failed: {type(exc).__name__}: {exc}")
        statuses[None] += 1
        return statuses
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def call(case):
                try:
                    response = case.call(base_url=base_url, timeout=30)
                    status = response.status_code
                except Exception:
                    status = None
                statuses[status] += 1
                if status is None or status >= 500:
                    say(f"api_fuzz: schemathesis case answered {status}: {case.method} {case.path} "
                        f"query={case.query!r}")

            try:
                call()
            except Exception as exc:  # e.g. no invalid request possible for an operation
                if "Unsatisfiable" not in type(exc).__name__:
                    say(f"api_fuzz: schemathesis {operation.path} {mode}: {type(exc).__name__}: {exc}")
    return statuses


def api_fuzz(base_url: str, *, hostile_limit: int | None = None, max_examples: int = 25) -> dict:
    statuses = run_hostile(base_url, limit=hostile_limit)
    # Hypothesis prints reproduction hints on stdout; stdout is kept for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        statuses += run_schemathesis(base_url, max_examples=max_examples)
    requests = sum(statuses.values())
    bad = sum(n for s, n in statuses.items() if s is None or s >= 500)
    say(f"api_fuzz: {requests} requests, statuses {dict(sorted(statuses.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))}")
    return {"requests": requests, "status_5xx": bad}
