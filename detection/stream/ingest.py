"""Raw-event ingestion into ClickHouse by a consumer (used on chDB).

chDB 4.4 cannot create Kafka engine tables (see README), so in embedded mode the process that
owns chDB runs this consumer (its own group, KAFKA_INGEST_GROUP). It applies the same
validation as the detector and as the server's materialized view; invalid messages are only
counted here (the detector sends them to the dead-letter topic), so they never block ingestion.

Failure policy: the buffered events are cleared only after their insert succeeded, so a failed
write is retried by the runner with the same rows and nothing of the batch is committed.
"""

from __future__ import annotations

import time
from collections import Counter as CountMap
from typing import Callable

from confluent_kafka import Consumer, Message, TopicPartition

from detection import metrics
from detection.clickhouse.writers import write_raw_events
from detection.core.events import Event, InvalidEvent, parse_event


class RawEventIngestHandler:
    def __init__(self, *, clickhouse, database: str, max_future_skew_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.clickhouse = clickhouse
        self.database = database
        self.max_future_skew_ms = int(max_future_skew_seconds * 1000)
        self.clock = clock
        self._events: list[Event] = []
        self._invalid = CountMap()
        self.written = 0

    def process_batch(self, messages: list[Message]) -> None:
        now_ms = int(self.clock() * 1000)
        skew_ms = self.max_future_skew_ms
        append = self._events.append
        for message in messages:
            try:
                append(parse_event(message.value(), now_ms=now_ms, max_future_skew_ms=skew_ms))
            except InvalidEvent as exc:
                self._invalid[exc.reason] += 1

    def flush(self, next_offsets) -> None:
        events = self._events
        if events:
            write_raw_events(self.clickhouse, self.database, events, ingest_time_ms=int(self.clock() * 1000))
            self._events = []
            metrics.RAW_EVENTS_INGESTED.inc(len(events))
            self.written += len(events)
        for reason, n in self._invalid.items():
            metrics.RAW_EVENTS_SKIPPED.labels(reason).inc(n)
        self._invalid.clear()

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        pass

    def revoked(self, partitions: list[TopicPartition]) -> None:
        pass

    def discard(self, partitions: list[TopicPartition]) -> None:
        self._events = []  # not committed: read again by whoever owns the partitions next
        self._invalid.clear()

    def idle(self) -> None:
        pass

    def close(self) -> None:
        pass
