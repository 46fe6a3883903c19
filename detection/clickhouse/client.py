"""The one place that builds a clickhouse-connect client from CLICKHOUSE_URL.

``chdb:///abs/path`` selects clickhouse-connect's chDB backend (ClickHouse's engine running in
this process); ``http(s)://user:pass@host:8123`` a ClickHouse server. The same SQL runs on both.

chDB allows one process per data directory and one open directory per process, so clients are
process-wide singletons, one per *purpose* (clickhouse-connect serialises calls on a client, so
threads may share one). Separate purposes get separate clients: chDB allows several handles on
the one engine a process hosts (a server, several sessions), and a call on one never waits for
the lock of another. The detector's background state writer has its own, so a status write of
thousands of rows never holds up the batch's own writes behind the same lock.
"""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError as ClickHouseUnavailable

__all__ = ["ClickHouseUnavailable", "close_client", "create_client", "get_client", "is_embedded"]
# ClickHouseUnavailable: the server could not be reached (the API maps it to 503); exported here
# so that no other app imports the driver.

_lock = threading.Lock()
_clients: dict[str, Client] = {}  # purpose -> client, all for _client_url
_client_url: str | None = None


def is_embedded(url: str) -> bool:
    return urlparse(url).scheme == "chdb"


def create_client(url: str) -> Client:
    """A new client for ``url`` (prefer :func:`get_client`, which shares one per process)."""
    scheme = urlparse(url).scheme
    if scheme == "chdb":
        path = urlparse(url).path
        if not path.startswith("/"):
            raise ValueError(f"CLICKHOUSE_URL {url!r}: chdb:// needs an absolute path (chdb:///abs/path)")
        from pathlib import Path

        Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=url)
    if scheme in ("http", "https"):
        return clickhouse_connect.get_client(dsn=url)
    raise ValueError(f"CLICKHOUSE_URL {url!r}: expected chdb:///path, http:// or https://")


def get_client(url: str | None = None, *, purpose: str = "default") -> Client:
    """The process-wide client for ``url`` (default: settings.CLICKHOUSE_URL) and ``purpose``.

    Asking for another URL closes every previous client first (chDB cannot open two directories).
    """
    global _client_url
    if url is None:
        from django.conf import settings

        url = settings.CLICKHOUSE_URL
    with _lock:
        if _client_url != url:
            _close_all()
            _client_url = url
        client = _clients.get(purpose)
        if client is None:
            client = _clients[purpose] = create_client(url)
        return client


def close_client() -> None:
    """Close every client of this process."""
    global _client_url
    with _lock:
        _close_all()
        _client_url = None


def _close_all() -> None:
    while _clients:
        _clients.popitem()[1].close()
