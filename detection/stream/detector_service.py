"""The detector service: Kafka telemetry.events → pure core → ClickHouse, offsets last.

One :class:`~detection.core.detector.KeyedDetector` per assigned partition (every event of a
key is on one partition, so a partition's keys move together on a rebalance).

:class:`DetectorHandler` does one job, decode + detect, and composes the parts that do the
rest, each with its own failure policy:

==========================  =================================================================
part                         failure policy
==========================  =================================================================
:class:`ResultBuffer`        the batch's transitions, written with their batch. A failed
                             write keeps them and fails the flush: the runner retries,
                             nothing is committed.
dead letters (``dlq``)       kept until acknowledged; a failed delivery fails the flush.
:class:`StateWriter`         background thread: statuses (newest per key, at most every
                             ``status_flush_seconds``) then checkpoints; a failed round keeps
                             them and retries; detection and commits go on.
:class:`CheckpointStore`     snapshots taken on the consumer thread, stored by the state
                             writer; a partition's first one is stored before its first
                             commit (a failure fails the flush); a failed restore fails the
                             assignment (the part restarts).
:class:`ConfigReloader`      background thread; a failed load keeps the last configuration.
:class:`SourceTracker`       background thread; PostgreSQL down only delays bookkeeping.
:class:`LagGauge`            background thread; a failed round is skipped.
==========================  =================================================================

Per record ("one bad record never stops the consumer"): a message that is not a valid event,
an event too far in the future for its key, and a late event go to the dead-letter topic with
their reason (see :meth:`DetectorHandler.process_batch`).

Future events: an event may be ahead of the wall clock by at most
``min(max_future_skew, the key's allowed_lateness)``. So a key's watermark (newest event time
minus the lateness) never passes the wall clock, and an event that arrives without delay is
never late, whatever a skewed producer sent before it.

Checkpoints: every ``checkpoint_seconds`` (and on revoke and shutdown) each partition's detector
is snapshotted with the offset of its next message, after the batch's transitions were written;
at most one partition per batch on the periodic path, which spreads the snapshot cost. On
assignment the newest checkpoint is restored and consumption restarts at its offset. A partition
without a stored checkpoint gets one at its first flush, before its offsets are committed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as CountMap
from dataclasses import dataclass
from typing import Callable

from confluent_kafka import Consumer, Message, TopicPartition

from detection import metrics
from detection.clickhouse import writers
from detection.core.detector import KeyedDetector, OutcomeKind, Transition
from detection.core.events import InvalidEvent, ms_to_iso, parse_event
from detection.stream.checkpoints import CheckpointStore
from detection.stream.config_reloader import ConfigReloader
from detection.stream.config_source import DetectionConfig
from detection.stream.dlq import DeadLetters
from detection.stream.lag import LagGauge
from detection.stream.sources import SourceTracker
from detection.stream.state_writer import StateWriter

log = logging.getLogger("detection.detector")


@dataclass
class DetectorSettings:
    database: str
    consumer_group: str
    max_future_skew_seconds: float
    config_refresh_seconds: float
    checkpoint_seconds: float = 30.0
    lag_refresh_seconds: float = 5.0


class ResultBuffer:
    """The transitions the detectors produced and ClickHouse has not stored yet.

    Cleared only after a successful write, so a failed write loses nothing and a retry writes
    the same rows (idempotent: deterministic ids, ReplacingMergeTree).
    """

    def __init__(self, *, clickhouse, database: str) -> None:
        self.clickhouse = clickhouse
        self.database = database
        self.transitions: list[Transition] = []

    def write(self, *, now_ms: int) -> list[Transition]:
        """Write the transitions; returns those written."""
        transitions = self.transitions
        writers.write_drift_events(self.clickhouse, self.database, transitions, detected_at_ms=now_ms)
        self.transitions = []
        return transitions

    def drop(self) -> None:
        """Forget every buffered row without writing it (the batch is replayed from commits)."""
        self.transitions = []


class DetectorHandler:
    def __init__(
        self,
        *,
        settings: DetectorSettings,
        clickhouse,
        dead_letters: DeadLetters,
        config: ConfigReloader[DetectionConfig],
        sources: SourceTracker,
        state: StateWriter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.dead_letters = dead_letters
        self.reloader = config
        self.sources = sources
        self.clock = clock
        self.results = ResultBuffer(clickhouse=clickhouse, database=settings.database)
        self.state = state
        self.checkpoints = CheckpointStore(clickhouse=clickhouse, database=settings.database,
                                           consumer_group=settings.consumer_group,
                                           every_seconds=settings.checkpoint_seconds, writer=state)
        self.lag = LagGauge(every_seconds=settings.lag_refresh_seconds)
        self.config = config.load_now()
        self.detectors: dict[tuple[str, int], KeyedDetector] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}  # processed, for checkpoints
        self._invalid = CountMap()
        self._events_in = 0
        self._seen: dict[str, int] = {}  # source_id -> first wall-clock ms in this batch
        self._written: list[Transition] = []  # written by this flush's attempts, reported once it completes
        self.totals = CountMap()
        self._core_counts = CountMap()  # cumulative late/duplicate of the live detectors
        self._skew_ms = int(settings.max_future_skew_seconds * 1000)
        metrics.CONFIG_VERSION.set(self.config.version)
        config.start()
        sources.start()
        state.start()

    # -- per batch of messages (in memory) --------------------------------------------------------
    def process_batch(self, messages: list[Message]) -> None:
        """Decode, validate and detect; the hot loop keeps everything in locals."""
        now_ms = int(self.clock() * 1000)
        skew_ms = self._skew_ms
        detectors = self.detectors
        transitions = self.results.transitions
        seen = self._seen
        parse = parse_event
        reject = self._reject
        late = OutcomeKind.LATE
        last_partition = -1
        detector = None
        for message in messages:
            try:
                event = parse(message.value(), now_ms=now_ms, max_future_skew_ms=skew_ms)
            except InvalidEvent as exc:
                reject(message, exc.reason, str(exc))
                continue
            if event.event_time_ms > now_ms and self._too_far_ahead(message, event, now_ms):
                continue
            partition = message.partition()
            if partition != last_partition:
                tp = (message.topic(), partition)
                detector = detectors.get(tp)
                if detector is None:
                    detector = detectors[tp] = self._new_detector()
                last_partition = partition
            outcome = detector.update(event)
            transition = outcome.transition
            if transition is not None:
                transitions.append(transition)
            elif outcome.kind is late:
                self.dead_letters.send(message, "late_event", f"event_time {ms_to_iso(event.event_time_ms)} is behind "
                                       f"the watermark of {event.source_id}/{event.metric}")
            if event.source_id not in seen:
                seen[event.source_id] = now_ms
        self._events_in += len(messages)

    def _reject(self, message: Message, reason: str, detail: str) -> None:
        self._invalid[reason] += 1
        self.dead_letters.send(message, reason, detail)

    def _too_far_ahead(self, message: Message, event, now_ms: int) -> bool:
        """Dead-letter an event further ahead of the wall clock than its key's allowed lateness
        (it would move the key's watermark past the wall clock; see the module docstring)."""
        limit = self.config.thresholds_for(event.source_id, event.metric).allowed_lateness_ms
        if event.event_time_ms - now_ms <= limit:
            return False
        self._reject(message, "future_event_time",
                     f"event_time {ms_to_iso(event.event_time_ms)} is more than the key's allowed lateness "
                     f"({limit} ms) ahead of now {ms_to_iso(now_ms)}")
        return True

    def _new_detector(self) -> KeyedDetector:
        return KeyedDetector(self.config.thresholds_for, self.config.baseline_for)

    # -- the point of no return ----------------------------------------------------------------
    def flush(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Write the batch's results; raises (keeping every buffer) if any write fails."""
        started = time.monotonic()
        now_ms = int(self.clock() * 1000)
        self._written.extend(self.results.write(now_ms=now_ms))
        self.dead_letters.flush()
        self._next_offsets.update(next_offsets)
        # After the transitions: a status never runs ahead of the transitions that led to it.
        for detector in self.detectors.values():
            self.state.add_statuses(detector.drain_changed_statuses())
        owned = [tp for tp in self.detectors if tp in self._next_offsets]
        first = [tp for tp in owned if self.checkpoints.unstored(tp)]
        if first:  # before this partition's first commit (see the module docstring)
            self.checkpoints.store_now(self._checkpoint_items(first))
        else:
            self.checkpoints.take(self._checkpoint_items([tp for tp in owned if self.checkpoints.due(tp)][:1]))
        # Everything is written: from here on nothing can fail the batch.
        written, self._written = self._written, []
        seen, self._seen = self._seen, {}
        self.sources.note(seen)
        self._count(written)
        if written:
            metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        for t in written:
            log.info(
                "%s %s/%s at %s z=%.2f ratio=%.2f (mean %.4g vs baseline %.4g)",
                t.event_type, t.source_id, t.metric, ms_to_iso(t.event_time_ms), t.z_score, t.std_ratio,
                t.rolling_mean, t.baseline_mean,
            )

    def _checkpoint_items(self, tps: list[tuple[str, int]]) -> list[tuple[tuple[str, int], int, KeyedDetector]]:
        return [(tp, self._next_offsets[tp], self.detectors[tp]) for tp in tps
                if tp in self._next_offsets and tp in self.detectors]

    def _count(self, transitions: list[Transition]) -> None:
        late = duplicate = keys = 0
        for detector in self.detectors.values():
            c = detector.counters
            late += c["late"]
            duplicate += c["duplicate"]
            keys += detector.key_count
        metrics.EVENTS_IN.inc(self._events_in)
        self.totals["events_in"] += self._events_in
        self._events_in = 0
        for reason, n in self._invalid.items():
            metrics.EVENTS_INVALID.labels(reason).inc(n)
            self.totals["invalid"] += n
        self._invalid.clear()
        # detector counters are cumulative per detector; export the increase since last time
        for name, value, counter in (("late", late, metrics.EVENTS_LATE), ("duplicate", duplicate, metrics.EVENTS_DUPLICATE)):
            delta = value - self._core_counts[name]
            if delta > 0:
                counter.inc(delta)
                self.totals[name] += delta
            self._core_counts[name] = value
        for t in transitions:
            metrics.TRANSITIONS.labels(t.event_type).inc()
            self.totals[t.event_type] += 1
        metrics.KEYS.set(keys)

    # -- rebalance -----------------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.lag.watch(consumer)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            detector = self._new_detector()
            offset = self.checkpoints.restore(key, detector)
            if offset is not None:
                tp.offset = offset
                self._next_offsets[key] = offset
            self.detectors[key] = detector

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """The batch was written and committed: checkpoint the partitions, then drop them."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self.results.write(now_ms=int(self.clock() * 1000))
        self.checkpoints.store_now(self._checkpoint_items(keys))  # with every pending status
        self._drop(keys)

    def discard(self, partitions: list[TopicPartition]) -> None:
        """The batch was NOT written: drop everything buffered (it is replayed from commits)."""
        self.results.drop()
        self._written = []
        self._drop([(tp.topic, tp.partition) for tp in partitions])

    def _drop(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            detector = self.detectors.pop(key, None)
            if detector is not None:  # its counts were exported; keep the deltas right
                counters = detector.counters
                self._core_counts["late"] -= counters["late"]
                self._core_counts["duplicate"] -= counters["duplicate"]
            self._next_offsets.pop(key, None)
            self.checkpoints.forget(key)

    # -- between batches (quick) ---------------------------------------------------------------
    def idle(self) -> None:
        config = self.reloader.take()
        if config is not None:
            self._apply_config(config)

    def _apply_config(self, config: DetectionConfig) -> None:
        if config.version == self.config.version and config.baselines == self.config.baselines:
            return
        changed = 0
        for detector in self.detectors.values():
            changed += detector.reconfigure(config.thresholds_for, config.baseline_for)
        if config.version != self.config.version or changed:
            log.info("config version %d loaded (%d keys got new thresholds)", config.version, changed)
        self.config = config
        metrics.CONFIG_VERSION.set(config.version)

    def close(self) -> None:
        """Stop the background parts (the source tracker and the state writer write what they
        still hold, once)."""
        self.lag.stop()
        self.reloader.stop()
        self.sources.stop()
        self.state.stop()
