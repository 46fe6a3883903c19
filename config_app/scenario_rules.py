"""Rules of a drift scenario that hold across its steps (pure: no Django, no I/O).

Used by the admin (validating a scenario's steps together) and by the drift controller's
schedule (:func:`producers.control.plan_schedule`), so both apply the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable


def overlap_error(steps: Iterable[tuple[str, str, str, float, float]]) -> str | None:
    """The first overlap between steps with the same target and kind, or None.

    ``steps`` are ``(source_id, metric, kind, start, end)`` in scenario order (numbered from 1
    in the message). A ``stop`` is identified by target and kind, so two such steps must not
    overlap; one may start exactly when the other ends.

    >>> overlap_error([("s", "cpu", "mean_shift", 0, 10), ("s", "cpu", "mean_shift", 10, 20)]) is None
    True
    >>> overlap_error([("s", "cpu", "mean_shift", 0, 10), ("s", "cpu", "mean_shift", 9.5, 20)])
    'steps 1 and 2 overlap on s/cpu (mean_shift); steps with the same target and kind must not overlap'
    """
    windows: dict[tuple[str, str, str], list[tuple[float, float, int]]] = {}
    for index, (source_id, metric, kind, start, end) in enumerate(steps):
        windows.setdefault((source_id, metric, kind), []).append((start, end, index))
    for (source_id, metric, kind), spans in windows.items():
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
            if start < end:
                return (f"steps {first + 1} and {second + 1} overlap on {source_id}/{metric} ({kind}); "
                        "steps with the same target and kind must not overlap")
    return None
