-- Raw telemetry events as they arrived. Duplicates of an event (same content, hence same
-- event_id and sort key) collapse at merge time; readers that must not double count read with
-- FINAL or group by event_id. ingest_time is when ClickHouse received the row: the baseline job
-- folds events by ingest_time high-water mark.
CREATE TABLE IF NOT EXISTS {database}.raw_events
(
    event_id    UInt64,
    source_id   LowCardinality(String),
    metric      LowCardinality(String),
    value       Float64,
    event_time  DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, metric, event_time, event_id);
