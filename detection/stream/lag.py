"""Consumer lag per partition, measured off the consumer thread.

Watermark requests are broker round trips, so they run on their own thread (librdkafka handles
may be used from any thread). Failure policy: a failed round (rebalancing, broker away) is
skipped; the gauge keeps its last values and the next round tries again.
"""

from __future__ import annotations

import threading

from detection import metrics


class LagGauge:
    def __init__(self, *, every_seconds: float = 5.0) -> None:
        self.every_seconds = every_seconds
        self._consumer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, consumer) -> None:
        """Measure ``consumer`` from now on (starts the thread on first use)."""
        self._consumer = consumer
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lag-gauge", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            self.measure()

    def measure(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            positions = consumer.position(consumer.assignment())
        except Exception:  # closing, or rebalancing: the next round will tell
            return
        for tp in positions:
            try:
                _low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
            except Exception:
                continue
            position = tp.offset if tp.offset >= 0 else high
            metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, high - position))
