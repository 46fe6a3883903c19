-- Append-only drift transitions. drift_event_id is deterministic (a replay after a crash writes
-- the same ids), so a replayed transition collapses with the original; read with FINAL.
CREATE TABLE IF NOT EXISTS {database}.drift_events
(
    drift_event_id   UInt64,
    source_id        LowCardinality(String),
    metric           LowCardinality(String),
    event_type       Enum8('DRIFT_START' = 1, 'DRIFT_END' = 2),
    event_time       DateTime64(3, 'UTC'),
    detected_at      DateTime64(3, 'UTC'),
    rolling_mean     Float64,
    rolling_std      Float64,
    rolling_count    UInt32,
    baseline_mean    Float64,
    baseline_std     Float64,
    z_score          Float64,
    std_ratio        Float64,
    trigger_event_id UInt64,
    config_version   UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, metric, event_time, drift_event_id);
