"""Composition root: turns settings into runnable stream services.

Only this module (and the management commands) read django.conf.settings for the stream; the
core and the handlers get plain values.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings

from config_app.services.sources import sources_deactivate, sources_seen_record
from detection.clickhouse.client import get_client
from detection.stream.config_source import detection_config_load
from detection.stream.detector_service import DetectorHandler, DetectorSettings
from detection.stream.dlq import DeadLetters
from detection.stream.ingest import RawEventIngestHandler
from detection.stream.runner import StreamRunner

log = logging.getLogger(__name__)


def _events_runner(handler, *, group: str, name: str) -> StreamRunner:
    """A batching consumer of the events topic in ``group`` (commit after the handler's flush)."""
    return StreamRunner(
        consumer_config={
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": group,
            "client.id": f"drift-{name}",
            "session.timeout.ms": 10_000,
            "max.poll.interval.ms": 300_000,
            "fetch.wait.max.ms": 20,
        },
        topics=[settings.KAFKA_EVENTS_TOPIC],
        handler=handler,
        max_events=settings.DETECTOR_BATCH_MAX_EVENTS,
        max_seconds=settings.DETECTOR_BATCH_MAX_SECONDS,
        name=name,
    )


def _load_detection_config():
    """Load the configuration; runs on a loader thread, whose DB connection is closed after."""
    from django.db import connection

    try:
        return detection_config_load()
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def build_detector(*, checkpoint_seconds: float = 30.0) -> tuple[StreamRunner, DetectorHandler]:
    handler = DetectorHandler(
        settings=DetectorSettings(
            database=settings.CLICKHOUSE_DATABASE,
            consumer_group=settings.KAFKA_DETECTOR_GROUP,
            max_future_skew_seconds=settings.DETECTOR_MAX_FUTURE_SKEW_SECONDS,
            config_refresh_seconds=settings.CONFIG_REFRESH_SECONDS,
            checkpoint_seconds=checkpoint_seconds,
            source_inactivity_seconds=settings.SOURCE_INACTIVITY_SECONDS,
        ),
        clickhouse=get_client(),
        dead_letters=DeadLetters(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, topic=settings.KAFKA_DLQ_TOPIC),
        load_config=_load_detection_config,
        record_sources=sources_seen_record,
        deactivate_sources=sources_deactivate,
    )
    return _events_runner(handler, group=settings.KAFKA_DETECTOR_GROUP, name="detector"), handler


def build_ingester() -> tuple[StreamRunner, RawEventIngestHandler]:
    handler = RawEventIngestHandler(
        clickhouse=get_client(),
        database=settings.CLICKHOUSE_DATABASE,
        max_future_skew_seconds=settings.DETECTOR_MAX_FUTURE_SKEW_SECONDS,
    )
    return _events_runner(handler, group=settings.KAFKA_INGEST_GROUP, name="ingest"), handler


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM/SIGINT: services drain, write and commit, then return."""
    stop = threading.Event()

    def _handler(signum, frame):
        log.info("signal %s: draining and stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop


def run_threads(services: list[tuple[str, object]], stop: threading.Event) -> list[BaseException]:
    """Run each ``(name, fn)`` as ``fn(stop)`` in its own thread until all return.

    If one fails, ``stop`` is set so the others drain and stop too (a half-running stack is
    worse than a stopped one). Returns the errors.
    """
    errors: list[BaseException] = []

    def guarded(name, fn):
        try:
            fn(stop)
        except BaseException as exc:
            errors.append(exc)
            log.exception("%s failed; stopping the other services", name)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(name, fn), name=name) for name, fn in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    return errors
