"""Composition root: turns settings into runnable stream services, and supervises them.

Only this module (and the management commands) read django.conf.settings for the stream; the
core and the handlers get plain values.

Supervision policy (:func:`supervise`): every part (ingester, each detector, the baseline
refresher, the API) runs in its own thread. A part that raises is logged, reported on
``/health`` as degraded, and started again (a fresh consumer and handler, which resume from
the committed offsets and the detector checkpoints) after a backoff of 1, 2, 4 … up to
``max_backoff`` seconds. A part that fails ``max_restarts`` times within ``window_seconds``
is given up on: ``stop`` is set, the other parts drain, and the process exits non-zero, so that
its own supervisor (systemd, docker compose ``restart:``) restarts it. A part that returns
without ``stop`` being set is treated as a failure too.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from config_app.services.sources import sources_deactivate, sources_seen_record
from detection.clickhouse.client import get_client
from detection.core import kernel
from detection.stream.config_reloader import ConfigReloader
from detection.stream.config_source import DetectionConfigLoader
from detection.stream.detector_service import DetectorHandler, DetectorSettings
from detection.stream.dlq import DeadLetters
from detection.stream.health import Component
from detection.stream.ingest import RawEventIngestHandler
from detection.stream.runner import StreamRunner
from detection.stream.sources import SourceTracker
from detection.stream.state_writer import StateWriter

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
            # stale partition leaders after a broker restart are corrected within 10 s, not 5 min
            "topic.metadata.refresh.interval.ms": 10_000,
        },
        topics=[settings.KAFKA_EVENTS_TOPIC],
        handler=handler,
        max_events=settings.DETECTOR_BATCH_MAX_EVENTS,
        max_seconds=settings.DETECTOR_BATCH_MAX_SECONDS,
        retry_seconds=settings.STREAM_WRITE_RETRY_SECONDS,
        name=name,
    )


def _close_thread_connection() -> None:
    """Close this thread's Django connection (background threads own theirs)."""
    from django.db import connection

    connection.close()


def _drop_broken_connection() -> None:
    """After a failed query: drop this thread's connection if it is unusable, keep it otherwise."""
    from django.db import connection

    connection.close_if_unusable_or_obsolete()


def tune_interpreter() -> None:
    """Tune the interpreter of a stream process for latency; call it once at startup, after the
    imports and before the consumers start.

    - **Freeze what exists** (``gc.freeze``): the modules, Django and the libraries (about 200k
      tracked objects) live as long as the process, yet every full (generation 2) collection
      walked them all. A detector at 5,000 events/s ran one every ~3 s, each stopping every
      thread for ~110 ms (max 180): the main cause of the produce -> written p99. Frozen, a full
      collection walks only what was created since (the keys' state): ~30 ms with 10k keys.
    - **Hand the GIL back within** ``DETECTOR_GIL_SWITCH_MS`` (default 1 ms; Python's is 5 ms):
      the consumer thread gives up the GIL on every Kafka call and every write, and must win it
      back from whichever background thread (state writer, source tracker, config reloader) is
      running Python meanwhile; each hand-back could cost up to the interval, many times per
      batch. A shorter interval costs a little more switching when two threads are CPU-bound,
      which here is rare and brief.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(settings.DETECTOR_GIL_SWITCH_MS / 1000)


def build_detector(*, checkpoint_seconds: float = 30.0, name: str = "detector", clickhouse=None,
                   record_sources=sources_seen_record) -> tuple[StreamRunner, DetectorHandler]:
    """A detector consumer; ``clickhouse`` and ``record_sources`` default to the real ones
    (the failure tests pass wrappers that make one write step fail)."""
    if kernel.NATIVE:
        log.info("%s: cusum kernel compiled (detection/core/_kernel.c)", name)
    else:
        log.warning("%s: cusum kernel in pure Python (same results, slower): compiled one %s", name,
                    kernel.NOT_NATIVE_REASON)
    # Statuses and checkpoints go through a client of their own (its own lock), unless the
    # caller passed one (the failure tests wrap it to make writes fail).
    state_clickhouse = clickhouse or get_client(purpose="state")
    clickhouse = clickhouse or get_client()
    handler = DetectorHandler(
        settings=DetectorSettings(
            database=settings.CLICKHOUSE_DATABASE,
            consumer_group=settings.KAFKA_DETECTOR_GROUP,
            max_future_skew_seconds=settings.DETECTOR_MAX_FUTURE_SKEW_SECONDS,
            config_refresh_seconds=settings.CONFIG_REFRESH_SECONDS,
            checkpoint_seconds=checkpoint_seconds,
        ),
        clickhouse=clickhouse,
        dead_letters=DeadLetters(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, topic=settings.KAFKA_DLQ_TOPIC),
        config=ConfigReloader(
            load=DetectionConfigLoader(),
            refresh_seconds=settings.CONFIG_REFRESH_SECONDS,
            on_load_error=_drop_broken_connection,
            on_thread_exit=_close_thread_connection,
            name=f"{name}.config",
        ),
        sources=SourceTracker(
            record_sources=record_sources,
            deactivate_sources=sources_deactivate,
            record_seconds=settings.SOURCE_RECORD_SECONDS,
            inactivity_seconds=settings.SOURCE_INACTIVITY_SECONDS,
            on_thread_exit=_close_thread_connection,
            name=f"{name}.sources",
        ),
        state=StateWriter(clickhouse=state_clickhouse, database=settings.CLICKHOUSE_DATABASE,
                          status_flush_seconds=settings.STATUS_FLUSH_SECONDS, name=f"{name}.state"),
    )
    return _events_runner(handler, group=settings.KAFKA_DETECTOR_GROUP, name=name), handler


def build_ingester(*, clickhouse=None) -> tuple[StreamRunner, RawEventIngestHandler]:
    handler = RawEventIngestHandler(
        clickhouse=clickhouse or get_client(),
        database=settings.CLICKHOUSE_DATABASE,
        max_future_skew_seconds=settings.DETECTOR_MAX_FUTURE_SKEW_SECONDS,
    )
    return _events_runner(handler, group=settings.KAFKA_INGEST_GROUP, name="ingest"), handler


def stream_part(build: Callable[[], tuple[StreamRunner, object]], totals: dict | None = None) -> Callable[[threading.Event], None]:
    """A supervisable part: each (re)start builds a fresh runner + handler and runs it.

    ``totals`` (optional) accumulates the handlers' counters across restarts.
    """

    def run(stop: threading.Event) -> None:
        runner, handler = build()
        try:
            runner.run(stop)
        finally:
            if totals is not None:
                for name, value in getattr(handler, "totals", {}).items():
                    totals[name] = totals.get(name, 0) + value
                if hasattr(handler, "written"):
                    totals["raw_events_written"] = totals.get("raw_events_written", 0) + handler.written

    return run


@dataclass
class SupervisionPolicy:
    max_restarts: int = 5
    window_seconds: float = 300.0
    initial_backoff: float = 1.0
    max_backoff: float = 30.0


def supervise(parts: list[tuple[str, Callable[[threading.Event], None]]], stop: threading.Event,
              policy: SupervisionPolicy | None = None) -> list[BaseException]:
    """Run each ``(name, fn)`` as ``fn(stop)`` in its own thread, restarting it on failure.

    Returns the errors of the parts that were given up on (empty after a clean stop); see the
    module docstring for the policy.
    """
    policy = policy or SupervisionPolicy()
    fatal: list[BaseException] = []

    def guarded(name: str, fn) -> None:
        health = Component(name)
        failures: list[float] = []
        delay = policy.initial_backoff
        while not stop.is_set():
            try:
                fn(stop)
                if stop.is_set():
                    health.ok("stopped")
                    return
                raise RuntimeError(f"{name} returned without being asked to stop")
            except BaseException as exc:
                now = time.monotonic()
                failures = [t for t in failures if now - t < policy.window_seconds] + [now]
                if len(failures) == 1:
                    delay = policy.initial_backoff  # the first failure in a while: back off briefly
                health.restarts += 1
                if stop.is_set():
                    log.warning("%s failed while stopping: %s", name, exc)
                    return
                if len(failures) >= policy.max_restarts:
                    log.exception("%s failed %d times in %.0f s: giving up; the process exits non-zero",
                                  name, len(failures), policy.window_seconds)
                    health.failed(exc, down=True)
                    fatal.append(exc)
                    stop.set()
                    return
                log.exception("%s failed; restarting in %.1f s (failure %d of %d allowed in %.0f s)",
                              name, delay, len(failures), policy.max_restarts, policy.window_seconds)
                health.failed(exc)
                if stop.wait(delay):
                    return
                delay = min(policy.max_backoff, delay * 2)
                health.ok("restarted")

    threads = [threading.Thread(target=guarded, args=(name, fn), name=name) for name, fn in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    return fatal
