"""The pure detection core: no Kafka, database, Django or clock; time is passed in.

- :mod:`~detection.core.events`: the event contract (``parse_event`` -> ``Event`` or
  ``InvalidEvent(reason)``), ``event_id_for``, ``encode_event``, ``kafka_key``, time helpers.
- :mod:`~detection.core.moments`: Welford moments, Chan's ``merge`` (shared with the baseline job).
- :mod:`~detection.core.window`: ``EventTimeWindow``, exact rolling count / mean / sample std.
- :mod:`~detection.core.scores`: z-score, std ratio, the degenerate-baseline rule.
- :mod:`~detection.core.state`: ``DriftState`` and the N/M hysteresis.
- :mod:`~detection.core.config`: ``Thresholds``, ``Baseline``.
- :mod:`~detection.core.detector`: ``KeyedDetector`` (windows, watermarks, duplicates, states).
"""

from detection.core.config import Baseline, Thresholds
from detection.core.detector import KeyedDetector, KeyStatus, Outcome, OutcomeKind, Transition, drift_event_id_for
from detection.core.events import Event, InvalidEvent, encode_event, event_id_for, kafka_key, make_event, parse_event
from detection.core.state import DriftState

__all__ = [
    "Baseline",
    "DriftState",
    "Event",
    "InvalidEvent",
    "KeyStatus",
    "KeyedDetector",
    "Outcome",
    "OutcomeKind",
    "Thresholds",
    "Transition",
    "drift_event_id_for",
    "encode_event",
    "event_id_for",
    "kafka_key",
    "make_event",
    "parse_event",
]
