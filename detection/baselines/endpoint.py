"""run_stack's internal fold endpoint, its client, and the DAG's choice between the two paths.

Why an endpoint: chDB allows one process per data directory, and in embedded mode that process
is ``run_stack``. An Airflow task runs in a process of its own, so it cannot open chDB; with
``BASELINE_FOLD_VIA=endpoint`` it asks ``run_stack`` to run the fold and waits for the answer.
With ``BASELINE_FOLD_VIA=direct`` (server mode: a ClickHouse server any process may query) the
task runs the fold itself. Both paths run the same function,
:func:`detection.baselines.fold.baseline_fold_for_run`.

The endpoint (served by ``run_stack`` on ``INTERNAL_API_HOST:INTERNAL_API_PORT``, 127.0.0.1 by
default, never by the public API server)::

    POST /baselines/fold
    Authorization: Bearer <INTERNAL_API_TOKEN>
    {"run_id": "scheduled__2026-12-01T20:00:00+00:00", "until": "2026-12-01T20:00:00+00:00"}

    200 {"result": "folded" | "nothing_new" | "already_folded", "run_id": ..., "keys_updated": ...,
         "events_folded": ..., "high_water_mark": ..., "previous_high_water_mark": ...,
         "replayed": ..., "seconds": ...}
    400 bad body · 401 missing or wrong token · 403 no token configured (every request refused)
    404 other path · 405 other method · 500 the fold failed (the reason is in ``error``)

Every error answer is ``{"error": "<reason>"}``. The token is compared in constant time. The
endpoint is as idempotent as the fold: a repeated run (an Airflow retry) folds nothing and gets
what the run folded the first time.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import datetime

logger = logging.getLogger(__name__)

PATH = "/baselines/fold"
RUN_ID_MAX_LENGTH = 250  # Airflow's run_id limit, and BaselineHistory.run_id's max_length
_MAX_BODY = 16 * 1024
_STATUS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden",
           404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Content Too Large",
           500: "500 Internal Server Error"}


class BadRequest(ValueError):
    """The request body is not a valid fold request."""


class FoldEndpointError(RuntimeError):
    """The fold endpoint could not be reached or answered with an error (the reason is the message)."""


# --- server side ----------------------------------------------------------------------------
def parse_fold_request(body: bytes) -> tuple[str, datetime]:
    """``(run_id, until)`` from a request body, or :class:`BadRequest` saying what is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object with run_id and until")
    run_id, until = data.get("run_id"), data.get("until")
    if not isinstance(run_id, str) or not run_id.strip():
        raise BadRequest("run_id must be a non-empty string")
    if len(run_id) > RUN_ID_MAX_LENGTH:
        raise BadRequest(f"run_id is longer than {RUN_ID_MAX_LENGTH} characters")
    if not isinstance(until, str):
        raise BadRequest("until must be an ISO-8601 time with an offset, e.g. 2026-12-01T20:00:00+00:00")
    try:
        until_time = datetime.fromisoformat(until)
    except ValueError as exc:
        raise BadRequest(f"until {until!r} is not an ISO-8601 time") from exc
    if until_time.tzinfo is None or until_time.utcoffset() is None:
        raise BadRequest(f"until {until!r} has no offset; give one, e.g. +00:00")
    return run_id, until_time


class FoldEndpoint:
    """The WSGI application. ``fold(until=, run_id=)`` is injected so tests and callers choose it;
    ``run_stack`` passes :func:`detection.baselines.fold.baseline_fold_for_run`."""

    def __init__(self, *, token: str, fold) -> None:
        self._token = token.encode()
        self._fold = fold

    def __call__(self, environ, start_response):
        status, answer = self._handle(environ)
        body = json.dumps(answer).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store")]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="driftwatch-internal"'))
        if status == 405:
            headers.append(("Allow", "POST"))
        start_response(_STATUS[status], headers)
        return [body]

    def _handle(self, environ) -> tuple[int, dict]:
        if environ.get("PATH_INFO", "").rstrip("/") != PATH:
            return 404, {"error": f"no such path; the only one is POST {PATH}"}
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, {"error": f"only POST is allowed on {PATH}"}
        if not self._token:
            return 403, {"error": "INTERNAL_API_TOKEN is not configured in run_stack: every request is refused"}
        scheme, _, presented = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return 401, {"error": "missing 'Authorization: Bearer <INTERNAL_API_TOKEN>' header"}
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            return 401, {"error": "wrong token (INTERNAL_API_TOKEN differs between the caller and run_stack)"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, {"error": "bad Content-Length"}
        if length > _MAX_BODY:
            return 413, {"error": f"body larger than {_MAX_BODY} bytes"}
        try:
            run_id, until = parse_fold_request(environ["wsgi.input"].read(length))
        except BadRequest as exc:
            return 400, {"error": str(exc)}
        try:
            answer = self._fold(until=until, run_id=run_id)
        except Exception as exc:
            logger.exception("fold endpoint: the fold for run %s failed", run_id)
            return 500, {"error": f"the fold failed: {type(exc).__name__}: {exc}"}
        logger.info("fold endpoint: run %s: %s, %s events, high-water mark %s", run_id, answer["result"],
                    answer["events_folded"], answer["high_water_mark"])
        return 200, answer


def _fold_in_this_process(*, until: datetime, run_id: str) -> dict:
    """The fold on a server thread: the thread's database connection is closed afterwards."""
    from django.db import close_old_connections, connection

    from detection.baselines.fold import baseline_fold_for_run

    close_old_connections()
    try:
        return baseline_fold_for_run(until=until, run_id=run_id)
    finally:
        connection.close()


def serve(stop: threading.Event, *, host: str, port: int, token: str, threads: int = 2) -> None:
    """Serve the fold endpoint with waitress until ``stop`` (a thread of ``run_stack``)."""
    from driftsite.wsgi_server import serve_until

    if not token:
        logger.error("fold endpoint: INTERNAL_API_TOKEN is not set, so every fold request will be refused (403)")
    app = FoldEndpoint(token=token, fold=_fold_in_this_process)
    serve_until(stop, app, host=host, port=port, threads=threads, ident="driftwatch-internal",
                on_listening=lambda bound: logger.info("fold endpoint: POST http://%s:%s%s", host, bound, PATH))


# --- client side ----------------------------------------------------------------------------
def request_fold(*, url: str, token: str, until: datetime, run_id: str, timeout: float) -> dict:
    """Ask run_stack to fold up to ``until`` for ``run_id`` and wait for its answer.

    Raises :class:`FoldEndpointError` with the reason on any failure: no token configured,
    run_stack not reachable, an error answer, or no answer within ``timeout`` seconds (the fold
    may still finish in run_stack; retrying the run is safe, it will not count an event twice).
    """
    if not token:
        raise FoldEndpointError("INTERNAL_API_TOKEN is not set for the DAG's task; set the same value as run_stack's")
    endpoint = url.rstrip("/") + PATH
    body = json.dumps({"run_id": run_id, "until": until.isoformat()}).encode()
    request = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", "")
        except (ValueError, AttributeError):
            reason = ""
        raise FoldEndpointError(f"run_stack's fold endpoint {endpoint} answered {exc.code}: {reason or exc.reason}") from exc
    except TimeoutError as exc:
        raise FoldEndpointError(
            f"no answer from {endpoint} within {timeout:g} s (the fold may still complete in run_stack; "
            "a retry of this run is safe: it never counts an event twice)") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise FoldEndpointError(f"no answer from {endpoint} within {timeout:g} s") from exc
        raise FoldEndpointError(
            f"cannot reach run_stack's fold endpoint {endpoint}: {exc.reason} "
            "(is run_stack running with BASELINE_FOLD_VIA=endpoint?)") from exc


def fold_for_dag_run(*, run_id: str, until: datetime) -> dict:
    """What the DAG's task runs: the fold for one DAG run, by the path BASELINE_FOLD_VIA chooses."""
    from django.conf import settings

    if settings.BASELINE_FOLD_VIA == "endpoint":
        return request_fold(url=settings.INTERNAL_API_URL, token=settings.INTERNAL_API_TOKEN, until=until,
                            run_id=run_id, timeout=settings.BASELINE_FOLD_TIMEOUT_SECONDS)
    from detection.baselines.fold import baseline_fold_for_run

    return baseline_fold_for_run(until=until, run_id=run_id)
