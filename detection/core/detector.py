"""The keyed detector: per-(source_id, metric) windows, watermarks, duplicates, scores and states.

Feeding: :meth:`KeyedDetector.update` takes one validated :class:`~detection.core.events.Event`
and returns an :class:`Outcome` (``ACCEPTED`` / ``LATE`` / ``DUPLICATE`` and at most one
:class:`Transition`). It is deterministic: the same events in the same order give the same
outcomes, transitions and ids (``drift_event_id`` is a hash of the key, the transition type and
the triggering event's id). It never reads a clock.

Per key:

- **Window**: an :class:`~detection.core.window.EventTimeWindow` of ``window_seconds``, i.e.
  the event-time interval ``(newest - window, newest]``.
- **Watermark** = newest accepted event time of the key - ``allowed_lateness_seconds``.
  An event is ``LATE`` (dropped from detection, counted) when its time is before the watermark,
  or when it is at or before the window's exclusive lower bound ``newest - window`` (possible
  only if the lateness is not smaller than the window): such an event could not enter the
  window, so it cannot change anything. A late event never moves the watermark. (Events from
  the future are rejected before the detector, by ``parse_event``'s skew check.)
- **Out of order** inside the lateness: placed at its event-time position in the window.
- **Duplicates**: an event whose ``event_id`` equals one still in the key's window is
  ``DUPLICATE`` and ignored. Since ``event_id`` is a hash of (source_id, metric, value,
  event_time_ms), within one key it is equal exactly when (value, event_time_ms) is, so the
  window's own contents are the duplicate set: no extra per-event memory, bounded by the window.
  A duplicate of an event that already left the window is older than the window bound, hence
  ``LATE`` (still ignored). An in-order event (newer than everything) cannot be a duplicate.
- **Evaluation** on each accepted event once the window holds ``min_samples`` and the key has a
  usable baseline (rules in :mod:`detection.core.scores`), feeding the N/M state machine of
  :mod:`detection.core.state` (which this module runs inlined for speed).

Configuration: ``thresholds_for(source_id, metric)`` and ``baseline_for(source_id, metric)`` are
called when a key is first seen and on :meth:`KeyedDetector.reconfigure`, never per event.

>>> from detection.core.config import Baseline, Thresholds
>>> from detection.core.events import make_event
>>> th = Thresholds(window_seconds=5, min_samples=3, z_threshold=3, std_ratio_threshold=3,
...                 enter_hits=2, exit_hits=2, allowed_lateness_seconds=2)
>>> det = KeyedDetector(lambda s, m: th, lambda s, m: Baseline(mean=0.0, std=0.2, count=1000))
>>> stream = [0.1, -0.2, 0.0, 0.3, -0.1, 1.2, 1.0, 1.3, 1.1, 1.2, 0.1, -0.2, 0.2, 0.0, -0.1, 0.1]
>>> for i, x in enumerate(stream):
...     out = det.update(make_event("host-1", "cpu", x, 1_000 * i))
...     if out.transition:
...         print(i, out.transition.event_type, round(out.transition.z_score, 3))
8 DRIFT_START 4.5
14 DRIFT_END 0.0
>>> det.update(make_event("host-1", "cpu", 0.2, 12_000)).kind      # 3 s behind the newest (15 s)
<OutcomeKind.LATE: 'LATE'>
>>> det.update(make_event("host-1", "cpu", -0.1, 14_000)).kind     # an exact copy of event 14
<OutcomeKind.DUPLICATE: 'DUPLICATE'>
>>> det.status("host-1", "cpu").state
<DriftState.NORMAL: 'NORMAL'>
"""

from __future__ import annotations

import hashlib
import math
from array import array
from bisect import bisect_right as _bisect_right
from dataclasses import replace
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from detection.core.config import Baseline, Thresholds
from detection.core.cusum import STATISTIC_NAMES, cusum_params, effective_autocorrelation
from detection.core.events import Event
from detection.core.kernel import CusumState
from detection.core.scores import resolve_baseline
from detection.core.state import DRIFT_END, DRIFT_START, DriftState
from detection.core.window import CANCELLATION_GUARD, COMPACT_MIN as _COMPACT_MIN, EventTimeWindow

__all__ = [
    "KeyStatus",
    "KeyedDetector",
    "Outcome",
    "OutcomeKind",
    "SavedKey",
    "Transition",
    "drift_event_id_for",
]

ThresholdsFor = Callable[[str, str], Thresholds]
BaselineFor = Callable[[str, str], "Baseline | None"]

_sqrt = math.sqrt
_md5 = hashlib.md5

# Integer state codes used on the hot path (enum members only at the edges).
_INITIALIZING, _NORMAL, _DRIFTING = 0, 1, 2
_STATE_BY_CODE = (DriftState.INITIALIZING, DriftState.NORMAL, DriftState.DRIFTING)
_NO_STATISTICS = (0.0, 0.0, 0.0, 0.0)  # a zscore key's cusum statistics in a snapshot


@lru_cache(maxsize=4096)
def _cusum_coefficients(
    target: float, d: float, k_up: float, k_down: float, rho: float, floored: bool
) -> tuple[float, ...]:
    """The :attr:`~detection.core.cusum.CusumParams.coefficients` a key's CusumState is
    configured with, derived once per distinct set of parameters (the threshold solve is a
    bisection); a floored baseline std drops the shrink statistic (``without_shrink``)."""
    p = cusum_params(
        target_false_alarms_per_100k=target, mean_shift_sigma=d, std_up_ratio=k_up,
        std_down_ratio=k_down, autocorrelation=rho,
    )
    return (p.without_shrink() if floored else p).coefficients


class OutcomeKind(str, Enum):
    ACCEPTED = "ACCEPTED"
    LATE = "LATE"
    DUPLICATE = "DUPLICATE"

    def __str__(self) -> str:
        return self.value


class Transition(NamedTuple):
    """One ``drift_events`` row (the writer adds the detection wall-clock time)."""

    drift_event_id: int
    source_id: str
    metric: str
    event_type: str  # "DRIFT_START" | "DRIFT_END"
    event_time_ms: int  # event time of the triggering event
    rolling_mean: float
    rolling_std: float
    rolling_count: int
    baseline_mean: float
    baseline_std: float  # the std used for scoring (floored if degenerate, see scores.py)
    z_score: float
    std_ratio: float
    trigger_event_id: int
    config_version: int
    # The method's decision statistic at the trigger: for zscore the z-score against
    # z_threshold; for cusum the CUSUM nearest its threshold (largest S/h), by name.
    method: str = "zscore"
    statistic_name: str = "z_score"
    statistic: float = 0.0
    threshold: float = 0.0
    cusum_statistics: tuple[float, float, float, float] | None = None  # mean_up, mean_down, std_up, std_down
    cusum_thresholds: tuple[float, float, float, float] | None = None


class Outcome(NamedTuple):
    kind: OutcomeKind
    transition: Transition | None = None


class KeyStatus(NamedTuple):
    """One ``drift_status_current`` row (current state of one key)."""

    source_id: str
    metric: str
    state: DriftState
    state_since_ms: int  # event time at which the key entered ``state``
    last_event_time_ms: int  # newest accepted event time
    rolling_mean: float
    rolling_std: float
    rolling_count: int
    baseline_mean: float | None
    baseline_std: float | None
    z_score: float | None  # of the evaluation of the newest accepted event; None if not evaluated
    std_ratio: float | None
    config_version: int
    method: str = "zscore"
    statistic_name: str | None = None  # as in Transition; None while not evaluated
    statistic: float | None = None
    threshold: float | None = None
    cusum_statistics: tuple[float, float, float, float] | None = None
    cusum_thresholds: tuple[float, float, float, float] | None = None


class SavedKey(NamedTuple):
    """One key's state as a snapshot holds it (:meth:`KeyedDetector.saved_keys`,
    :meth:`KeyedDetector.load_key`; encoded by :mod:`detection.core.snapshot`)."""

    source_id: str
    metric: str
    times: array  # the window's event times, event-time order (array('q'))
    values: array  # their values (array('d'))
    newest_ms: int | None  # newest accepted event time (the window's upper bound)
    state: int  # 0 INITIALIZING, 1 NORMAL, 2 DRIFTING
    hits: int
    state_since_ms: int
    last_z: float | None
    last_ratio: float | None
    cusum_statistics: tuple[float, float, float, float]  # mean_up, mean_down, std_up, std_down
    evaluated: bool  # whether the newest event was evaluated (derived; ignored by load_key)


_OUT_ACCEPTED = Outcome(OutcomeKind.ACCEPTED, None)
_OUT_LATE = Outcome(OutcomeKind.LATE, None)
_OUT_DUPLICATE = Outcome(OutcomeKind.DUPLICATE, None)


def drift_event_id_for(source_id: str, metric: str, event_type: str, trigger_event_id: int) -> int:
    """Deterministic UInt64 id of a transition: MD5 of the key, the type and the trigger's event_id.

    >>> drift_event_id_for("host-1", "cpu", "DRIFT_START", 42) == drift_event_id_for("host-1", "cpu", "DRIFT_START", 42)
    True
    """
    payload = f"{source_id}\x1f{metric}\x1f{event_type}\x1f{trigger_event_id}"
    return int.from_bytes(_md5(payload.encode()).digest()[:8], "little")


class _KeyState(EventTimeWindow):
    """Everything the detector keeps for one key: the window plus cached config and state.

    Snapshots go through :meth:`KeyedDetector.saved_keys` / :meth:`KeyedDetector.load_key`
    (and the window's ``contents`` / ``load``): change those together with these fields.
    """

    # CPython lays slots out in sorted name order: the names keep the fields every event reads
    # (baseline_*, ck, cusum, dirty, drift_*, eval_min_samples) next to each other, right after
    # the window's, so an event touches few cache lines of the key (10k keys do not fit).
    __slots__ = (
        "source_id",
        "metric",
        "thresholds",
        "lateness_ms",
        "eval_min_samples",
        "z_threshold",
        "ratio_high",
        "ratio_low",
        "enter_hits",
        "exit_hits",
        "version",
        "baseline",
        "baseline_mean",
        "baseline_std",
        "drift_state",
        "drift_hits",
        "state_since_ms",
        "last_z",
        "last_ratio",
        "dirty",
        "cusum",
        "ck",  # the cusum method's CusumState (detection.core.kernel); None for zscore
    )

    def __init__(self, source_id: str, metric: str, thresholds: Thresholds, baseline: Baseline | None) -> None:
        super().__init__(thresholds.window_ms)
        self.source_id = source_id
        self.metric = metric
        self.drift_state = _INITIALIZING
        self.drift_hits = 0
        self.state_since_ms = 0
        self.last_z = None
        self.last_ratio = None
        self.dirty = False
        self.ck = None
        self.baseline = None
        self.apply_thresholds(thresholds)
        self.apply_baseline(baseline)

    def apply_thresholds(self, th: Thresholds) -> None:
        self.thresholds = th
        if th.window_ms != self.window_ms:
            self.set_window_ms(th.window_ms)
        self.lateness_ms = th.allowed_lateness_ms
        self.eval_min_samples = th.min_samples
        self.z_threshold = float(th.z_threshold)
        self.ratio_high = float(th.std_ratio_threshold)
        self.enter_hits = th.enter_hits
        self.exit_hits = th.exit_hits
        self.version = th.version
        self.drift_hits = 0
        cusum = th.method == "cusum"
        if not cusum:
            self.ck = None
        elif self.ck is None:
            self.ck = CusumState()  # configured by apply_baseline below
        else:
            self.ck.reset()  # changed cusum parameters restart the statistics
        self.cusum = cusum
        if hasattr(self, "baseline_std"):
            self.apply_baseline(self.baseline)

    def apply_baseline(self, baseline: Baseline | None) -> None:
        self.baseline = baseline
        resolved = resolve_baseline(baseline)
        if resolved is None:
            # baseline_std == 0.0 is the hot path's "no baseline: do not evaluate" marker.
            self.baseline_mean = None
            self.baseline_std = 0.0
            self.ratio_low = 0.0
        else:
            self.baseline_mean = resolved.mean
            self.baseline_std = resolved.std
            # A floored std skips the shrink test: ratio < 0.0 is never true.
            self.ratio_low = 0.0 if resolved.std_floored else 1.0 / self.ratio_high
        if self.cusum:
            th = self.thresholds
            rho = 0.0
            if resolved is not None and not resolved.std_floored:
                rho = effective_autocorrelation(baseline.autocorrelation, baseline.count)
            coefficients = _cusum_coefficients(
                float(th.target_false_alarms_per_100k), float(th.mean_shift_sigma),
                float(th.std_up_ratio), float(th.std_down_ratio), rho,
                resolved is not None and resolved.std_floored,
            )
            if resolved is None:
                self.ck.configure(coefficients, 0.0, 0.0)  # not evaluated (the hot path's gate)
            else:
                self.ck.configure(coefficients, resolved.mean, 1.0 / resolved.std)


class KeyedDetector:
    """Drift detection for many keys; see the module docstring for the rules.

    ``thresholds_for`` / ``baseline_for`` are public configuration (resolvers); per-key state is
    private. ``counters`` and ``key_count`` report totals.
    """

    def __init__(self, thresholds_for: ThresholdsFor, baseline_for: BaselineFor) -> None:
        self.thresholds_for = thresholds_for
        self.baseline_for = baseline_for
        self._keys: dict[tuple[str, str], _KeyState] = {}
        self._changed: list[_KeyState] = []
        self._accepted = 0
        self._late = 0
        self._duplicate = 0
        self._drift_start = 0
        self._drift_end = 0

    # -- the hot path --------------------------------------------------------------------------
    def update(self, event: Event) -> Outcome:
        """Feed one validated event; return what happened to it (and a transition, if any)."""
        source_id, metric, x, t, event_id = event
        st = self._keys.get((source_id, metric))
        if st is None:
            st = self._new_key(source_id, metric)
        times = st._times
        values = st._values
        newest = st._newest
        if newest is None or t > newest:
            # In order (the common case): append, evict what fell out of (t - window, t].
            st._newest = t
            head = st._head
            if len(times) > head and times[head] <= t - st.window_ms:
                # Same loop as EventTimeWindow._evict_through, inlined.
                cutoff = t - st.window_ms
                shift = st._shift
                s1 = st._s1
                s2 = st._s2
                n = len(times)
                while head < n and times[head] <= cutoff:
                    d = values[head] - shift
                    s1 -= d
                    s2 -= d * d
                    head += 1
                st._s1 = s1
                st._s2 = s2
                if head >= _COMPACT_MIN and head + head >= n:
                    del times[:head]
                    del values[:head]
                    head = 0
                st._head = head
            if len(times) == head:
                if newest is None and st.drift_state == _INITIALIZING:
                    st.state_since_ms = t  # a new key is INITIALIZING since its first event
                st._reset_empty(x)
            times.append(t)
            values.append(x)
        else:
            if t < newest - st.lateness_ms or t <= newest - st.window_ms:
                self._late += 1
                return _OUT_LATE
            if st.contains(t, x):
                self._duplicate += 1
                return _OUT_DUPLICATE
            if t < times[-1]:
                i = _bisect_right(times, t, st._head)
                times.insert(i, t)
                values.insert(i, x)
            else:
                times.append(t)
                values.append(x)
        d = x - st._shift
        st._s1 += d
        d *= d
        st._s2 += d
        st._s2_added += d
        st._budget -= 1
        if st._budget <= 0:
            st._recompute()
        self._accepted += 1
        if not st.dirty:
            st.dirty = True
            self._changed.append(st)

        # Evaluation (gate: the window holds min_samples and the key has a baseline).
        if st.cusum:
            if len(values) - st._head < st.eval_min_samples or st.baseline_std == 0.0:
                st.last_z = st.last_ratio = None
                return _OUT_ACCEPTED
            # The four CUSUMs: one call into the key's CusumState (detection.core.kernel), which
            # updates them and says whether any is above its threshold; capped while DRIFTING.
            state = st.drift_state
            if state == _NORMAL:
                if st.ck.step(x):
                    hits = st.drift_hits + 1
                    if hits >= st.enter_hits:
                        return self._transition_cusum(st, DRIFT_START, t, event_id)
                    st.drift_hits = hits
                elif st.drift_hits:
                    st.drift_hits = 0
                return _OUT_ACCEPTED
            if state == _DRIFTING:
                if st.ck.step_capped(x):
                    if st.drift_hits:
                        st.drift_hits = 0
                    return _OUT_ACCEPTED
                hits = st.drift_hits + 1
                if hits >= st.exit_hits:
                    return self._transition_cusum(st, DRIFT_END, t, event_id)
                st.drift_hits = hits
                return _OUT_ACCEPTED
            # INITIALIZING: the first evaluation makes the key NORMAL and counts as one.
            hit = st.ck.step(x)
            st.drift_state = _NORMAL
            st.state_since_ms = t
            st.drift_hits = 0
            if hit:
                if st.enter_hits <= 1:
                    return self._transition_cusum(st, DRIFT_START, t, event_id)
                st.drift_hits = 1
            return _OUT_ACCEPTED
        n = len(values) - st._head
        baseline_std = st.baseline_std
        if n < st.eval_min_samples or baseline_std == 0.0:
            st.last_z = st.last_ratio = None
            return _OUT_ACCEPTED
        s1 = st._s1
        numer = st._s2 - s1 * s1 / n
        if numer * CANCELLATION_GUARD < st._s2_added:
            st._recompute()
            s1 = st._s1
            numer = st._s2 - s1 * s1 / n
        mean = st._shift + s1 / n
        std = _sqrt(numer / (n - 1)) if numer > 0.0 else 0.0
        z = mean - st.baseline_mean
        if z < 0.0:
            z = -z
        z /= baseline_std
        ratio = std / baseline_std
        st.last_z = z
        st.last_ratio = ratio
        violation = z > st.z_threshold or ratio > st.ratio_high or ratio < st.ratio_low

        # Hysteresis (same rule as detection.core.state.Hysteresis).
        state = st.drift_state
        if state == _NORMAL:
            if violation:
                hits = st.drift_hits + 1
                if hits >= st.enter_hits:
                    return self._transition(st, DRIFT_START, t, event_id, mean, std, n, z, ratio)
                st.drift_hits = hits
            elif st.drift_hits:
                st.drift_hits = 0
            return _OUT_ACCEPTED
        if state == _DRIFTING:
            if violation:
                if st.drift_hits:
                    st.drift_hits = 0
            else:
                hits = st.drift_hits + 1
                if hits >= st.exit_hits:
                    return self._transition(st, DRIFT_END, t, event_id, mean, std, n, z, ratio)
                st.drift_hits = hits
            return _OUT_ACCEPTED
        # INITIALIZING: the first evaluation makes the key NORMAL and counts as one.
        st.drift_state = _NORMAL
        st.state_since_ms = t
        st.drift_hits = 0
        if violation:
            if st.enter_hits <= 1:
                return self._transition(st, DRIFT_START, t, event_id, mean, std, n, z, ratio)
            st.drift_hits = 1
        return _OUT_ACCEPTED

    def _transition(
        self, st: _KeyState, event_type: str, t: int, event_id: int, mean: float, std: float, n: int, z: float, ratio: float
    ) -> Outcome:
        if event_type == DRIFT_START:
            st.drift_state = _DRIFTING
            self._drift_start += 1
        else:
            st.drift_state = _NORMAL
            self._drift_end += 1
        st.drift_hits = 0
        st.state_since_ms = t
        transition = Transition(
            drift_event_id_for(st.source_id, st.metric, event_type, event_id),
            st.source_id,
            st.metric,
            event_type,
            t,
            mean,
            std,
            n,
            st.baseline_mean,
            st.baseline_std,
            z,
            ratio,
            event_id,
            st.version,
            *_decision(st, z),
        )
        return Outcome(OutcomeKind.ACCEPTED, transition)

    def _transition_cusum(self, st: _KeyState, event_type: str, t: int, event_id: int) -> Outcome:
        n = st.count
        mean = st.mean
        std = st.std
        z = abs(mean - st.baseline_mean) / st.baseline_std
        ratio = std / st.baseline_std
        outcome = self._transition(st, event_type, t, event_id, mean, std, n, z, ratio)
        if event_type == DRIFT_END:
            st.ck.reset()
        return outcome

    def _new_key(self, source_id: str, metric: str) -> _KeyState:
        st = _KeyState(source_id, metric, self.thresholds_for(source_id, metric), self.baseline_for(source_id, metric))
        self._keys[(source_id, metric)] = st
        return st

    # -- configuration -------------------------------------------------------------------------
    def reconfigure(self, thresholds_for: ThresholdsFor, baseline_for: BaselineFor) -> int:
        """Swap the resolvers (config reloaded) and re-resolve every known key.

        - Thresholds whose values equal the key's current ones: the key keeps all its state;
          only its ``config_version`` moves to the new version (another row changed), so later
          transitions record the version they were decided under.
        - Changed thresholds: applied at once. The window contents are kept (if the window got
          shorter, events now outside it are evicted; if longer, it grows as new events
          arrive); the state (NORMAL/DRIFTING) is kept; the hit counters restart from zero.
        - Baselines are re-read for every key and apply from the next evaluation; nothing is
          reset (a key without a baseline so far starts being evaluated).
        - Statuses are not marked changed: they pick the new values up with the key's next event.

        Returns the number of keys whose thresholds changed.
        """
        self.thresholds_for = thresholds_for
        self.baseline_for = baseline_for
        changed = 0
        for (source_id, metric), st in self._keys.items():
            th = thresholds_for(source_id, metric)
            current = st.thresholds
            if th is not current:
                if th.version != current.version and replace(th, version=current.version) == current:
                    st.thresholds = th
                    st.version = th.version
                elif th != current:
                    st.apply_thresholds(th)
                    changed += 1
            baseline = baseline_for(source_id, metric)
            if baseline != st.baseline:
                st.apply_baseline(baseline)
        return changed

    # -- snapshots -----------------------------------------------------------------------------
    def saved_keys(self) -> Iterator[SavedKey]:
        """Every key's exact state, in key order (what a snapshot stores)."""
        for st in self._keys.values():
            times, values = st.contents()
            yield SavedKey(
                st.source_id, st.metric, times, values, st.newest_ms, st.drift_state, st.drift_hits,
                st.state_since_ms, st.last_z, st.last_ratio,
                st.ck.statistics if st.ck is not None else _NO_STATISTICS, _evaluated(st),
            )

    def load_key(self, saved: SavedKey) -> None:
        """Restore one key from :meth:`saved_keys`' output, replacing a key of the same name.

        Thresholds and baseline come from the resolvers (they are not part of the state); the
        window's sums are recomputed exactly from its contents.
        """
        self.drop_keys([(saved.source_id, saved.metric)])
        st = self._new_key(saved.source_id, saved.metric)
        st.load(saved.times, saved.values, saved.newest_ms)
        st.drift_state = saved.state
        st.drift_hits = saved.hits
        st.state_since_ms = saved.state_since_ms
        st.last_z = saved.last_z
        st.last_ratio = saved.last_ratio
        if st.ck is not None:
            st.ck.statistics = saved.cusum_statistics

    def drop_keys(self, keys: Iterable[tuple[str, str]]) -> int:
        """Forget keys (e.g. partitions revoked from this process); returns how many were known."""
        dropped = 0
        for key in keys:
            st = self._keys.pop(tuple(key), None)
            if st is not None:
                dropped += 1
                if st.dirty:
                    st.dirty = False
                    self._changed.remove(st)
        return dropped

    # -- reading -------------------------------------------------------------------------------
    def keys(self) -> list[tuple[str, str]]:
        return list(self._keys)

    @property
    def key_count(self) -> int:
        return len(self._keys)

    @property
    def counters(self) -> dict[str, int]:
        return {
            "accepted": self._accepted,
            "late": self._late,
            "duplicate": self._duplicate,
            "drift_start": self._drift_start,
            "drift_end": self._drift_end,
            "transitions": self._drift_start + self._drift_end,
        }

    def status(self, source_id: str, metric: str) -> KeyStatus | None:
        st = self._keys.get((source_id, metric))
        return None if st is None else _status_of(st)

    def drain_changed_statuses(self) -> list[KeyStatus]:
        """Statuses of the keys that accepted an event since the last drain (each once)."""
        changed = self._changed
        self._changed = []
        out = []
        for st in changed:
            st.dirty = False
            out.append(_status_of(st))
        return out


def _evaluated(st: _KeyState) -> bool:
    """Whether the newest accepted event was evaluated: the window (unchanged since) holds
    min_samples and the key has a baseline (the hot path's own gate)."""
    return st.baseline_std != 0.0 and st.count >= st.eval_min_samples


def _decision(st: _KeyState, z: float | None) -> tuple:
    """method, statistic_name, statistic, threshold, cusum_statistics, cusum_thresholds."""
    if not st.cusum:
        if z is None:
            return ("zscore", None, None, None, None, None)
        return ("zscore", "z_score", z, st.z_threshold, None, None)
    stats = st.ck.statistics
    hs = st.ck.thresholds
    if not _evaluated(st):
        return ("cusum", None, None, None, stats, hs)
    i = max(range(4), key=lambda j: stats[j] / hs[j] if hs[j] > 0 else 0.0)
    return ("cusum", STATISTIC_NAMES[i], stats[i], hs[i], stats, hs)


def _status_of(st: _KeyState) -> KeyStatus:
    has_baseline = st.baseline_std != 0.0
    newest = st._newest
    z, ratio = st.last_z, st.last_ratio
    if st.cusum and _evaluated(st):
        # The cusum path does not compute the window's scores per event; they are those of
        # the newest accepted event's window, which is the window now.
        z = abs(st.mean - st.baseline_mean) / st.baseline_std
        ratio = st.std / st.baseline_std
    return KeyStatus(
        st.source_id,
        st.metric,
        _STATE_BY_CODE[st.drift_state],
        st.state_since_ms,
        newest if newest is not None else st.state_since_ms,
        st.mean,
        st.std,
        st.count,
        st.baseline_mean if has_baseline else None,
        st.baseline_std if has_baseline else None,
        z,
        ratio,
        st.version,
        *_decision(st, z),
    )

