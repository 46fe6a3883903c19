-- Raw telemetry events as they arrived. Duplicates of an event (same content, hence same
-- event_id and sort key) collapse at merge time; readers that must not double count read with
-- FINAL or group by event_id. ingest_time is when ClickHouse received the row: the baseline job
-- folds events by ingest_time high-water mark, so the copy that survives a merge must be the
-- EARLIEST one (the one the fold counted): first_copy_rank decreases with ingest_time and is the
-- ReplacingMergeTree version (the highest rank survives). The minmax index keeps the fold's
-- ingest_time range scans cheap as the table grows.
CREATE TABLE IF NOT EXISTS {database}.raw_events
(
    event_id    UInt64,
    source_id   LowCardinality(String),
    metric      LowCardinality(String),
    value       Float64,
    event_time  DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC') DEFAULT now64(3),
    first_copy_rank UInt64 MATERIALIZED toUInt64(9223372036854775807 - toUnixTimestamp64Milli(ingest_time)),
    INDEX ingest_time_minmax ingest_time TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(first_copy_rank)
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, metric, event_time, event_id);
