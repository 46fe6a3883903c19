"""Process-wide health of the stream parts (no Kafka, database or Django imports).

Every part that can degrade (the supervised services, the config reloader, the source tracker)
owns a :class:`Component` registered here. ``/health`` reports them when the API runs in the
same process (``run_stack``); a part that is retrying or restarting is ``degraded``, one that
gave up is ``down``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

UP, DEGRADED, DOWN = "up", "degraded", "down"

_lock = threading.Lock()
_components: dict[str, "Component"] = {}


@dataclass
class Component:
    name: str
    state: str = UP
    detail: str = "ok"
    since: float = field(default_factory=time.time)
    failures: int = 0  # consecutive failures (0 once it works again)
    restarts: int = 0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        with _lock:
            _components[self.name] = self

    def _set(self, state: str, detail: str) -> None:
        if state != self.state:
            self.since = time.time()
        self.state = state
        self.detail = detail

    def ok(self, detail: str = "ok") -> None:
        self.failures = 0
        self._set(UP, detail)

    def failed(self, error: BaseException | str, *, down: bool = False) -> None:
        self.failures += 1
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._set(DOWN if down else DEGRADED, text.strip()[:500])


def components() -> dict[str, Component]:
    """A snapshot of the registered components, by name."""
    with _lock:
        return dict(_components)
