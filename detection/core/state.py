"""Drift states and the sustained (hysteresis) state machine.

``INITIALIZING -> NORMAL -> DRIFTING -> NORMAL``:

- ``INITIALIZING`` until the first evaluation (the window holds ``min_samples`` and a baseline
  exists). That first evaluation moves the key to ``NORMAL`` and is itself counted: a key that
  is violating from the start reaches ``DRIFTING`` after ``enter_hits`` evaluations in total.
- ``NORMAL``: ``enter_hits`` (N) consecutive violations -> ``DRIFTING`` (``DRIFT_START``).
- ``DRIFTING``: ``exit_hits`` (M) consecutive normal evaluations -> ``NORMAL`` (``DRIFT_END``).
- A single evaluation of the other kind resets the running counter to zero.
- Only ``DRIFT_START`` / ``DRIFT_END`` are transitions (rows of ``drift_events``);
  ``INITIALIZING -> NORMAL`` only changes the status.

>>> m = Hysteresis(enter_hits=2, exit_hits=1)
>>> [m.update(v) for v in (True, False, True, True, False)]
[None, None, None, 'DRIFT_START', 'DRIFT_END']
>>> m.state
<DriftState.NORMAL: 'NORMAL'>
"""

from __future__ import annotations

from enum import Enum

__all__ = ["DRIFT_END", "DRIFT_START", "DriftState", "Hysteresis"]

DRIFT_START = "DRIFT_START"
DRIFT_END = "DRIFT_END"


class DriftState(str, Enum):
    """Per-key state, spelled as stored in ``drift_status_current.state``."""

    INITIALIZING = "INITIALIZING"
    NORMAL = "NORMAL"
    DRIFTING = "DRIFTING"

    def __str__(self) -> str:
        return self.value


class Hysteresis:
    """N-to-enter / M-to-exit state machine of one key, fed one evaluation at a time.

    The reference implementation of the rule, used only by tests:
    :class:`detection.core.detector.KeyedDetector` runs the same rule inlined on its per-key
    state (the tests check both agree).
    """

    __slots__ = ("enter_hits", "exit_hits", "state", "hits")

    def __init__(self, enter_hits: int, exit_hits: int, state: DriftState = DriftState.INITIALIZING) -> None:
        if enter_hits < 1 or exit_hits < 1:
            raise ValueError("enter_hits and exit_hits must be >= 1")
        self.enter_hits = enter_hits
        self.exit_hits = exit_hits
        self.state = DriftState(state)
        self.hits = 0

    def update(self, violation: bool) -> str | None:
        """Feed one evaluation; return ``"DRIFT_START"``, ``"DRIFT_END"`` or ``None``."""
        if self.state is DriftState.INITIALIZING:
            self.state = DriftState.NORMAL
            self.hits = 0
        if self.state is DriftState.NORMAL:
            if violation:
                self.hits += 1
                if self.hits >= self.enter_hits:
                    self.state, self.hits = DriftState.DRIFTING, 0
                    return DRIFT_START
            else:
                self.hits = 0
        else:
            if violation:
                self.hits = 0
            else:
                self.hits += 1
                if self.hits >= self.exit_hits:
                    self.state, self.hits = DriftState.NORMAL, 0
                    return DRIFT_END
        return None
