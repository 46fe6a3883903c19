"""What the event store hands the baseline fold: one key's statistics over a slice of events.

The fold has two sides: the event store aggregates a slice of raw events per key
(:mod:`detection.clickhouse.aggregates`) and the configuration store merges the result into the
stored baselines (:mod:`config_app.services.baselines`). This value is the contract between them,
so neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from detection.core.autocorrelation import LagOneState


@dataclass(frozen=True, slots=True)
class KeyMoments:
    """Moments of the new distinct events of one key in a slice."""

    source_id: str
    metric: str
    count: int
    mean: float
    m2: float
    first_event_ms: int
    last_event_ms: int
    lag: LagOneState = LagOneState.empty()  # the slice's lag-1 sums, in event-time order
