"""One background thread that runs a step periodically, backing off while it fails.

Used by the parts that write off the consumer thread (:mod:`.sources`, :mod:`.state_writer`):
the step returns whether it succeeded; after a success the next run is ``period`` seconds later,
after ``n`` consecutive failures ``min(backoff_max, 0.5 * 2**n)`` seconds later. :meth:`wake`
runs it early; :meth:`stop` runs it one last time (to write what is still pending) and joins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class PeriodicWorker:
    def __init__(
        self,
        step: Callable[[], bool],
        *,
        period: float,
        backoff_max: float,
        name: str,
        on_thread_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self.step = step
        self.period = period
        self.backoff_max = backoff_max
        self.name = name
        self.on_thread_exit = on_thread_exit
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after one last run of the step."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        try:
            while True:
                stopping = self._stop.is_set()
                ok = self.step()
                if stopping:
                    return
                failures = 0 if ok else failures + 1
                self._wake.wait(self.period if ok else min(self.backoff_max, 0.5 * 2**failures))
                self._wake.clear()
        finally:
            self.on_thread_exit()
