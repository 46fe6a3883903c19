"""SIGTERM / SIGINT -> a stop flag, for every long-running command (stack, detector, producers,
controller): the command drains, writes, commits and exits."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopRequest:
    """A ``threading.Event`` that remembers which signal set it (``signum``, None if none)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def __call__(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()


@contextmanager
def stop_on_signals(request: StopRequest) -> Iterator[StopRequest]:
    """Within the block, SIGTERM and SIGINT set ``request`` instead of killing the process; the
    previous handlers come back afterwards. Outside the main thread (where Python cannot install
    handlers) the block runs without them."""
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
