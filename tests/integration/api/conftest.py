"""Fixtures of the API tests: a DRF client, and inserting real rows into the session's chDB."""

from __future__ import annotations

import pytest

from tests.integration.api.builders import EVENT_COLUMNS, RAW_COLUMNS, STATUS_COLUMNS
from tests.support.ports import free_port


@pytest.fixture(autouse=True)
def no_query_cache(monkeypatch):
    """API tests change the data between requests: they read it fresh (the cache has its own tests).

    (monkeypatch, not pytest-django's ``settings``: that one hides SETTINGS_MODULE, which the
    subprocess tests pass on.)
    """
    from django.conf import settings

    from monitoring_api.selectors import QUERY_CACHE

    monkeypatch.setattr(settings, "API_QUERY_CACHE_SECONDS", 0)
    QUERY_CACHE.clear()
    yield
    QUERY_CACHE.clear()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def ch_insert(clickhouse):
    """insert(table, rows): one batch of dict rows into a ClickHouse table of the session's chDB."""
    from django.conf import settings

    columns = {"drift_status_current": STATUS_COLUMNS, "drift_events": EVENT_COLUMNS, "raw_events": RAW_COLUMNS}

    def insert(table, rows):
        names = columns[table]
        clickhouse.insert(
            f"{settings.CLICKHOUSE_DATABASE}.{table}", [[row[c] for c in names] for row in rows], column_names=list(names)
        )

    return insert


@pytest.fixture
def ch_count(clickhouse):
    from django.conf import settings

    def count(table):
        return clickhouse.query(f"SELECT count() FROM {settings.CLICKHOUSE_DATABASE}.{table}").result_rows[0][0]

    return count


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()
