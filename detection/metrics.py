"""Prometheus metrics of the stream services (detector and raw-event ingester)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("drift_detector_events_in_total", "Messages consumed by the detector")
EVENTS_INVALID = Counter("drift_detector_events_invalid_total", "Messages sent to the dead-letter topic", ["reason"])
EVENTS_LATE = Counter("drift_detector_events_late_total", "Events older than their key's watermark (dropped from detection, dead-lettered as late_event)")
EVENTS_DUPLICATE = Counter("drift_detector_events_duplicate_total", "Duplicate events (ignored)")
TRANSITIONS = Counter("drift_detector_transitions_total", "Drift transitions written", ["event_type"])
BATCH_SECONDS = Histogram(
    "drift_detector_batch_write_seconds",
    "Time to write a batch's results (drift events, statuses, dead letters, checkpoints), the offset commit "
    "excluded; observed only for batches that wrote at least one drift transition",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_LAG = Gauge("drift_detector_consumer_lag", "Messages behind the partition's high watermark", ["partition"])
KEYS = Gauge("drift_detector_keys", "Keys held in memory")
CONFIG_VERSION = Gauge("drift_detector_config_version", "Configuration version in use")
RAW_EVENTS_INGESTED = Counter("drift_ingest_raw_events_total", "Raw events written to ClickHouse by the ingester")
RAW_EVENTS_SKIPPED = Counter("drift_ingest_invalid_total", "Invalid messages skipped by the ingester", ["reason"])
