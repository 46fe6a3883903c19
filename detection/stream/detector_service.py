"""The detector service: Kafka telemetry.events → pure core → ClickHouse, offsets last.

One :class:`~detection.core.detector.KeyedDetector` per assigned partition (every event of a
key is on one partition, so a partition's keys move together on a rebalance).

Side-effect free: decoding, detection (in memory). Point of no return: :meth:`flush`, which
writes drift_events and drift_status_current, confirms dead letters, records sources and
checkpoints; only then does the runner commit offsets.

State across restarts and rebalances: every ``checkpoint_seconds`` (and on revoke and shutdown)
each partition's detector is snapshotted (:mod:`detection.core.snapshot`) with the offset of
its next message into ``detector_checkpoints``, before the batch's offsets are committed. On
assignment the newest checkpoint is restored and consumption restarts at its offset, so the
events after it are replayed through exactly the state they originally met: the same
transitions with the same ids, absorbed by the ReplacingMergeTree tables. A partition without a
checkpoint starts from its committed offset with empty state (keys re-initialise).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as CountMap
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from confluent_kafka import Consumer, Message, TopicPartition

from detection import metrics
from detection.clickhouse import writers
from detection.clickhouse.state_readers import checkpoint_get
from detection.core.detector import KeyedDetector, Transition
from detection.core.events import InvalidEvent, ms_to_iso, parse_event
from detection.core.snapshot import SnapshotError, restore, snapshot
from detection.stream.config_source import DetectionConfig
from detection.stream.dlq import DeadLetters

log = logging.getLogger("detection.detector")


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass
class DetectorSettings:
    database: str
    consumer_group: str
    max_future_skew_seconds: float
    config_refresh_seconds: float
    checkpoint_seconds: float = 30.0
    source_inactivity_seconds: float = 300.0
    source_record_seconds: float = 10.0
    lag_refresh_seconds: float = 5.0


class DetectorHandler:
    def __init__(
        self,
        *,
        settings: DetectorSettings,
        clickhouse,
        dead_letters: DeadLetters,
        load_config: Callable[[], DetectionConfig],
        record_sources: Callable[..., int],
        deactivate_sources: Callable[..., int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clickhouse = clickhouse
        self.dead_letters = dead_letters
        self.load_config = load_config
        self.record_sources = record_sources
        self.deactivate_sources = deactivate_sources
        self.clock = clock
        self.config = load_config()
        self._config_loaded_at = time.monotonic()
        self._loader: threading.Thread | None = None
        self._loaded: DetectionConfig | None = None
        self.detectors: dict[tuple[str, int], KeyedDetector] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}  # processed, for checkpoints
        self._checkpointed_at: dict[tuple[str, int], float] = {}
        self._transitions: list[Transition] = []
        self._invalid = CountMap()
        self._events_in = 0
        self._seen: dict[str, int] = {}  # source_id -> first wall-clock ms in this batch
        self._source_recorded: dict[str, float] = {}
        self._consumer: Consumer | None = None
        self._lag_at = 0.0
        self._lag_thread: threading.Thread | None = None
        self._deactivate_at = 0.0
        self.totals = CountMap()
        self._core_counts = CountMap()  # cumulative late/duplicate of the live detectors
        self._skew_ms = int(settings.max_future_skew_seconds * 1000)
        metrics.CONFIG_VERSION.set(self.config.version)

    # -- per batch of messages (pure work) ----------------------------------------------------
    def process_batch(self, messages: list[Message]) -> None:
        """Decode, validate and detect; the hot loop keeps everything in locals."""
        now_ms = int(self.clock() * 1000)
        skew_ms = self._skew_ms
        detectors = self.detectors
        transitions = self._transitions
        seen = self._seen
        parse = parse_event
        last_partition = -1
        detector = None
        for message in messages:
            try:
                event = parse(message.value(), now_ms=now_ms, max_future_skew_ms=skew_ms)
            except InvalidEvent as exc:
                self._invalid[exc.reason] += 1
                self.dead_letters.send(message, exc.reason, str(exc))
                continue
            partition = message.partition()
            if partition != last_partition:
                tp = (message.topic(), partition)
                detector = detectors.get(tp)
                if detector is None:
                    detector = detectors[tp] = self._new_detector()
                last_partition = partition
            transition = detector.update(event).transition
            if transition is not None:
                transitions.append(transition)
            if event.source_id not in seen:
                seen[event.source_id] = now_ms
        self._events_in += len(messages)

    def _new_detector(self) -> KeyedDetector:
        return KeyedDetector(self.config.thresholds_for, self.config.baseline_for)

    # -- the point of no return ----------------------------------------------------------------
    def flush(self, next_offsets: dict[tuple[str, int], int]) -> None:
        started = time.monotonic()
        self._next_offsets.update(next_offsets)
        now_ms = int(self.clock() * 1000)
        statuses = []
        for detector in self.detectors.values():
            statuses.extend(detector.drain_changed_statuses())
        transitions, self._transitions = self._transitions, []
        db = self.settings.database
        writers.write_drift_events(self.clickhouse, db, transitions, detected_at_ms=now_ms)
        writers.write_statuses(self.clickhouse, db, statuses, updated_at_ms=now_ms)
        self.dead_letters.flush()
        self._record_sources(_utc(now_ms))
        self._checkpoint(force=False, now_ms=now_ms)
        self._count(transitions)
        if transitions or statuses:
            metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        for t in transitions:
            log.info(
                "%s %s/%s at %s z=%.2f ratio=%.2f (mean %.4g vs baseline %.4g)",
                t.event_type, t.source_id, t.metric, ms_to_iso(t.event_time_ms), t.z_score, t.std_ratio,
                t.rolling_mean, t.baseline_mean,
            )

    def _record_sources(self, now: datetime) -> None:
        """Upsert first/last seen of the batch's sources, each at most every source_record_seconds
        (last_seen is a liveness signal, not an audit log: this keeps Postgres off the hot path)."""
        seen, self._seen = self._seen, {}
        mono = time.monotonic()
        every = self.settings.source_record_seconds
        recorded = self._source_recorded
        due = {}
        for source_id, first_ms in seen.items():
            if mono - recorded.get(source_id, -every) >= every:
                recorded[source_id] = mono
                due[source_id] = (_utc(first_ms), now)
        if due:
            self.record_sources(seen=due)

    def _count(self, transitions: list[Transition]) -> None:
        late = duplicate = 0
        keys = 0
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

    def _checkpoint(self, *, force: bool, now_ms: int, only: list[tuple[str, int]] | None = None) -> None:
        now = time.monotonic()
        rows = []
        for tp in only if only is not None else list(self.detectors):
            detector = self.detectors.get(tp)
            next_offset = self._next_offsets.get(tp)
            if detector is None or next_offset is None:
                continue
            if not force and now - self._checkpointed_at.get(tp, 0.0) < self.settings.checkpoint_seconds:
                continue
            rows.append((self.settings.consumer_group, tp[0], tp[1], next_offset, snapshot(detector)))
            self._checkpointed_at[tp] = now
        writers.write_checkpoints(self.clickhouse, self.settings.database, rows, created_at_ms=now_ms)

    # -- rebalance -----------------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._consumer = consumer
        for tp in partitions:
            key = (tp.topic, tp.partition)
            found = checkpoint_get(
                self.clickhouse, self.settings.database,
                consumer_group=self.settings.consumer_group, topic=tp.topic, partition=tp.partition,
            )
            detector = self._new_detector()
            if found is not None:
                offset, blob = found
                try:
                    keys = restore(detector, blob)
                except SnapshotError as exc:
                    log.error("checkpoint of %s/%d unusable (%s): starting from the committed offset", tp.topic, tp.partition, exc)
                else:
                    tp.offset = offset
                    self._next_offsets[key] = offset
                    log.info("restored %d keys of %s/%d from checkpoint at offset %d", keys, tp.topic, tp.partition, offset)
            self.detectors[key] = detector
            self._checkpointed_at[key] = time.monotonic()

    def revoked(self, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._checkpoint(force=True, now_ms=int(self.clock() * 1000), only=keys)
        for key in keys:
            detector = self.detectors.pop(key, None)
            if detector is not None:  # its counts were exported; keep the deltas right
                counters = detector.counters
                self._core_counts["late"] -= counters["late"]
                self._core_counts["duplicate"] -= counters["duplicate"]
            self._next_offsets.pop(key, None)
            self._checkpointed_at.pop(key, None)

    # -- periodic work -------------------------------------------------------------------------
    def idle(self) -> None:
        now = time.monotonic()
        if self._loaded is not None:
            self._apply_loaded_config()
        if now - self._config_loaded_at >= self.settings.config_refresh_seconds:
            self.reload_config()
        if self._consumer is not None and now - self._lag_at >= self.settings.lag_refresh_seconds:
            self._lag_at = now
            if self._lag_thread is None or not self._lag_thread.is_alive():
                # watermark requests are broker round trips: keep them off the consumer thread
                self._lag_thread = threading.Thread(target=self._update_lag, name="lag-gauge", daemon=True)
                self._lag_thread.start()
        if now - self._deactivate_at >= max(5.0, self.settings.source_inactivity_seconds / 10):
            self._deactivate_at = now
            cutoff = _utc(int((self.clock() - self.settings.source_inactivity_seconds) * 1000))
            self.deactivate_sources(last_seen_before=cutoff)

    def reload_config(self) -> None:
        """Start loading the configuration in the background; :meth:`idle` applies it.

        Loading (two Postgres queries, ~10k baselines) takes long enough to delay a batch,
        so it runs off the consumer thread; applying it is quick and happens between batches.
        """
        self._config_loaded_at = time.monotonic()
        if self._loader is not None and self._loader.is_alive():
            return

        def load():
            try:
                self._loaded = self.load_config()
            except Exception:  # a Postgres hiccup must not stop detection: keep the last config
                log.exception("config reload failed; keeping version %d", self.config.version)

        self._loader = threading.Thread(target=load, name="config-loader", daemon=True)
        self._loader.start()

    def _apply_loaded_config(self) -> None:
        config, self._loaded = self._loaded, None
        if config.version == self.config.version and config.baselines == self.config.baselines:
            return
        changed = 0
        for detector in self.detectors.values():
            changed += detector.reconfigure(config.thresholds_for, config.baseline_for)
        if config.version != self.config.version or changed:
            log.info("config version %d loaded (%d keys got new thresholds)", config.version, changed)
        self.config = config
        metrics.CONFIG_VERSION.set(config.version)

    def _update_lag(self) -> None:
        """Consumer lag per partition (librdkafka handles may be used from any thread)."""
        consumer = self._consumer
        try:
            assignment = consumer.assignment()
            positions = consumer.position(assignment)
        except Exception:  # closing, or rebalancing: the next round will tell
            return
        for tp in positions:
            try:
                _low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
            except Exception:
                continue
            position = tp.offset if tp.offset >= 0 else high
            metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, high - position))
