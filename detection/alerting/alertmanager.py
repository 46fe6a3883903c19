"""HTTP client of Alertmanager's API v2, on the standard library (urllib).

Only what the notifier and /health need: ``POST /api/v2/alerts`` and ``GET /-/ready``. A base
URL may carry a path prefix (Alertmanager's ``--web.route-prefix``) and ``user:password@`` for
basic auth (sent as an Authorization header, never logged).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class AlertmanagerError(Exception):
    """Alertmanager could not be reached or failed (5xx): worth retrying."""


class AlertmanagerRejected(AlertmanagerError):
    """Alertmanager answered 4xx (e.g. an invalid alert): retrying the same body will not help.

    With a 400 Alertmanager still stores the valid alerts of the batch.
    """


def redact(url: str) -> str:
    """The URL without credentials, for logs and /health."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def _request(base_url: str, path: str, *, method: str = "GET", body: Any = None) -> urllib.request.Request:
    parts = urlsplit(base_url)
    url = redact(base_url).rstrip("/") + path
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if parts.username is not None:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def _send(request: urllib.request.Request, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace").strip()
        message = f"HTTP {exc.code} from {request.full_url}: {detail}"
        if 400 <= exc.code < 500:
            raise AlertmanagerRejected(message) from None
        raise AlertmanagerError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertmanagerError(f"{request.full_url}: {reason}") from None


def alerts_post(base_url: str, alerts: Sequence[dict[str, Any]], *, timeout: float) -> None:
    """POST the alerts (a JSON array) to ``<base_url>/api/v2/alerts``."""
    _send(_request(base_url, "/api/v2/alerts", method="POST", body=list(alerts)), timeout)


def ready_get(base_url: str, *, timeout: float) -> None:
    """Raises AlertmanagerError unless ``<base_url>/-/ready`` answers 200."""
    _send(_request(base_url, "/-/ready"), timeout)
