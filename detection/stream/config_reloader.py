"""Live configuration: thresholds and baselines reloaded from PostgreSQL off the consumer thread.

Failure policy: a failed load (PostgreSQL down, a timeout) keeps the last good configuration,
reports the component degraded and tries again at the next period; detection never waits for
it. Loading (two queries, ~10k baselines) takes long enough to delay a batch, so it runs on one
long-lived thread, which keeps its database connection between loads (``on_load_error`` lets
the caller drop a broken one). The consumer thread only swaps in a finished load
(:meth:`take`), which is quick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from detection.stream.health import Component

log = logging.getLogger(__name__)

C = TypeVar("C")


class ConfigReloader(Generic[C]):
    def __init__(
        self,
        *,
        load: Callable[[], C],
        refresh_seconds: float,
        on_load_error: Callable[[], None] = lambda: None,
        on_thread_exit: Callable[[], None] = lambda: None,
        name: str = "config",
    ) -> None:
        self.load = load
        self.refresh_seconds = refresh_seconds
        self.on_load_error = on_load_error
        self.on_thread_exit = on_thread_exit
        self.health = Component(name)
        self._loaded: C | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loads = 0

    def load_now(self) -> C:
        """The first load, on the caller's thread (a detector cannot start without a config).

        ``load`` may return None on later calls to say "nothing changed" (the consumer then
        keeps its configuration), never on the first."""
        config = self.load()
        if config is None:
            raise RuntimeError("the first configuration load returned nothing")
        self.loads += 1
        return config

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="config-loader", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def request(self) -> None:
        """Load again now instead of at the next period."""
        self._wake.set()

    def take(self) -> C | None:
        """The newest finished load not taken yet, or None."""
        with self._lock:
            loaded, self._loaded = self._loaded, None
        return loaded

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(self.refresh_seconds)
                self._wake.clear()
                if self._stop.is_set():
                    return
                try:
                    config = self.load()
                except Exception as exc:  # keep the last config: detection goes on
                    self.health.failed(exc)
                    log.warning("config reload failed (%s); detection continues on the last loaded config", exc)
                    self.on_load_error()
                    continue
                self.health.ok()
                if config is None:  # the loader found nothing changed
                    continue
                self.loads += 1
                with self._lock:
                    self._loaded = config
        finally:
            self.on_thread_exit()
