"""Health of the components the API depends on: PostgreSQL, ClickHouse and (when configured) Kafka.

Each probe does one real round trip and is timed. The probes run concurrently, each bounded by
``API_HEALTH_TIMEOUT_SECONDS`` (default 3): a probe that has not answered by then reports the
component as down ("timed out") and is left to finish in the background.

- postgres: opens (or reuses) this thread's Django connection and checks it is usable.
- clickhouse: a query through the process-wide client; lists the API's tables that are missing
  (an unmigrated database is down for the API).
- kafka: a metadata request (``AdminClient.list_topics``) to KAFKA_BOOTSTRAP_SERVERS; skipped
  when that setting is empty.
- the stream parts running in this process (``run_stack``: ingest, detectors, baselines, the
  detectors' config reloader and source tracker), from their own reports
  (:mod:`detection.stream.health`): a part that is retrying or restarting is down here, with its
  reason, while everything else keeps serving. A separate API process (server mode) has none.
- alertmanager (only when ALERTMANAGER_URL is set): optional, see
  :mod:`monitoring_api.alerting_health`; when it is down the API is "degraded", not down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections

from detection.clickhouse import readers
from detection.clickhouse.client import get_client
from detection.stream.probe import KafkaUnavailable, kafka_metadata
from detection.stream import health as stream_health

logger = logging.getLogger(__name__)

API_TABLES = ("raw_events", "drift_events", "drift_status_current")
# Components the API can serve without: down = degraded (200), not unavailable (503).
OPTIONAL_COMPONENTS = frozenset({"alertmanager"})


@dataclass
class ComponentHealth:
    up: bool
    latency_ms: float
    detail: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Health:
    checked_at: datetime
    components: dict[str, ComponentHealth]

    @property
    def up(self) -> bool:
        return all(c.up for name, c in self.components.items() if name not in OPTIONAL_COMPONENTS)

    @property
    def degraded(self) -> bool:
        return self.up and not all(c.up for c in self.components.values())


class ProbeFailed(Exception):
    pass


def _postgres_probe(timeout_seconds: float) -> dict[str, Any]:
    connection = connections["default"]
    try:
        connection.ensure_connection()
        if not connection.is_usable():
            raise ProbeFailed("connection is not usable")
        return {"vendor": connection.vendor, "server_version": connection.pg_version if connection.vendor == "postgresql" else None}
    finally:
        # The probe runs in a pool thread, which owns this connection: do not leak it.
        connection.close()


def _clickhouse_probe(timeout_seconds: float) -> dict[str, Any]:
    missing = readers.clickhouse_ping(get_client(), database=settings.CLICKHOUSE_DATABASE, tables=API_TABLES)
    if missing:
        raise ProbeFailed(f"database {settings.CLICKHOUSE_DATABASE!r} lacks tables {', '.join(missing)} (run migrate_clickhouse)")
    return {"database": settings.CLICKHOUSE_DATABASE, "embedded": settings.CLICKHOUSE_URL.startswith("chdb:")}


def _kafka_probe(timeout_seconds: float) -> dict[str, Any]:
    try:
        return kafka_metadata(settings.KAFKA_BOOTSTRAP_SERVERS, timeout_seconds=timeout_seconds)
    except KafkaUnavailable as exc:
        raise ProbeFailed(str(exc)) from exc


def _probes() -> dict[str, Callable[[float], dict[str, Any]]]:
    probes: dict[str, Callable[[float], dict[str, Any]]] = {
        "postgres": _postgres_probe,
        "clickhouse": _clickhouse_probe,
    }
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        probes["kafka"] = _kafka_probe
    if settings.ALERTMANAGER_URL:
        from monitoring_api.alerting_health import alertmanager_probe

        probes["alertmanager"] = alertmanager_probe
    return probes


def _timed(probe: Callable[[float], dict[str, Any]], timeout_seconds: float) -> ComponentHealth:
    started = time.perf_counter()
    try:
        info = probe(timeout_seconds)
        up, detail = True, "ok"
    except Exception as exc:  # any failure of a probe is "down", with the reason
        info, up = {}, False
        detail = f"{type(exc).__name__}: {exc}".strip()[:500]
    return ComponentHealth(up=up, latency_ms=round((time.perf_counter() - started) * 1000, 3), detail=detail, info=info)


def health_get() -> Health:
    """Probes every component concurrently; never raises."""
    timeout_seconds = float(getattr(settings, "API_HEALTH_TIMEOUT_SECONDS", 3.0))
    probes = _probes()
    executor = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="health")
    started = time.perf_counter()
    try:
        futures = {name: executor.submit(_timed, probe, timeout_seconds) for name, probe in probes.items()}
        components: dict[str, ComponentHealth] = {}
        for name, future in futures.items():
            remaining = max(0.0, timeout_seconds + 0.5 - (time.perf_counter() - started))
            try:
                components[name] = future.result(timeout=remaining)
            except FutureTimeout:
                elapsed = round((time.perf_counter() - started) * 1000, 3)
                components[name] = ComponentHealth(up=False, latency_ms=elapsed, detail=f"timed out after {timeout_seconds:g}s")
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    for name, part in sorted(stream_health.components().items()):
        info = {"state": part.state, "since": datetime.fromtimestamp(part.since, tz=UTC).isoformat(), "restarts": part.restarts}
        components[f"stream.{name}"] = ComponentHealth(up=part.state == stream_health.UP, latency_ms=0.0,
                                                       detail=part.detail, info=info)
    for name, component in components.items():
        if not component.up:
            logger.warning("health: %s is down: %s", name, component.detail)
    return Health(checked_at=datetime.now(tz=UTC), components=components)
