"""The short per-query cache of /drift/status and /drift/events: staleness bounded by
API_QUERY_CACHE_SECONDS, identical concurrent requests share one query, failures not cached."""

from __future__ import annotations

import threading
import time

import pytest

from monitoring_api.query_cache import QueryCache
from tests.integration.api.builders import status_row


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_result_is_reused_only_within_the_ttl_from_its_start():
    clock, calls = Clock(), []
    cache = QueryCache(clock=clock)

    def compute():
        calls.append(clock.now)
        return len(calls)

    assert cache.get("k", compute, ttl_seconds=1.0) == 1
    clock.now += 0.999
    assert cache.get("k", compute, ttl_seconds=1.0) == 1
    assert cache.get("other", compute, ttl_seconds=1.0) == 2  # another query: its own entry
    clock.now += 0.001
    assert cache.get("k", compute, ttl_seconds=1.0) == 3  # 1 s after the first query started
    assert cache.get("k", compute, ttl_seconds=0) == 4  # off: always fresh


def test_concurrent_identical_requests_share_one_query():
    cache, release, started, calls = QueryCache(), threading.Event(), threading.Event(), []

    def compute():
        calls.append(1)
        started.set()
        assert release.wait(10)
        return "page"

    results = []
    owner = threading.Thread(target=lambda: results.append(cache.get("k", compute, ttl_seconds=1.0)))
    owner.start()
    assert started.wait(10)
    waiters = [threading.Thread(target=lambda: results.append(cache.get("k", compute, ttl_seconds=1.0))) for _ in range(3)]
    for t in waiters:
        t.start()
    release.set()
    for t in [owner, *waiters]:
        t.join(10)
    assert results == ["page"] * 4 and len(calls) == 1


def test_a_failed_query_is_not_cached():
    cache = QueryCache()

    def fail():
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        cache.get("k", fail, ttl_seconds=1.0)
    assert cache.get("k", lambda: "ok", ttl_seconds=1.0) == "ok"


def test_entries_are_bounded():
    cache = QueryCache(max_entries=2)
    for key in "abc":
        cache.get(key, lambda: key, ttl_seconds=1.0)
    assert cache.get("a", lambda: "recomputed", ttl_seconds=1.0) == "recomputed"


def test_status_page_is_at_most_the_ttl_stale(api, ch_insert, monkeypatch):
    from django.conf import settings

    monkeypatch.setattr(settings, "API_QUERY_CACHE_SECONDS", 0.3)
    ch_insert("drift_status_current", [status_row("a", "m", state="NORMAL", version=1)])
    assert api.get("/drift/status").json()["results"][0]["state"] == "NORMAL"
    ch_insert("drift_status_current", [status_row("a", "m", state="DRIFTING", version=2)])
    deadline = time.monotonic() + 10
    while api.get("/drift/status").json()["results"][0]["state"] != "DRIFTING":
        assert time.monotonic() < deadline, "the cached page outlived its TTL"
        time.sleep(0.05)  # polling for the new state, bounded by the deadline
