"""The one place that builds a clickhouse-connect client from CLICKHOUSE_URL.

``chdb:///abs/path`` selects clickhouse-connect's chDB backend (ClickHouse's engine running in
this process); ``http(s)://user:pass@host:8123`` a ClickHouse server. The same SQL runs on both.

chDB allows one process per data directory and one open directory per process, so the client
is a process-wide singleton (clickhouse-connect serialises calls, so threads may share it).
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
_client: Client | None = None
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


def get_client(url: str | None = None) -> Client:
    """The process-wide client for ``url`` (default: settings.CLICKHOUSE_URL).

    Asking for another URL closes the previous client first (chDB cannot open two directories).
    """
    global _client, _client_url
    if url is None:
        from django.conf import settings

        url = settings.CLICKHOUSE_URL
    with _lock:
        if _client is not None and _client_url == url:
            return _client
        if _client is not None:
            _client.close()
            _client = None
        _client = create_client(url)
        _client_url = url
        return _client


def close_client() -> None:
    global _client, _client_url
    with _lock:
        if _client is not None:
            _client.close()
        _client, _client_url = None, None
