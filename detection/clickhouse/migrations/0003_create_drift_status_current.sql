-- Latest detection state per key. version = the key's newest event time in ms, so a replay of
-- older events can never overwrite a newer state; read with FINAL (or argMax by version).
CREATE TABLE IF NOT EXISTS {database}.drift_status_current
(
    source_id          LowCardinality(String),
    metric             LowCardinality(String),
    state              Enum8('INITIALIZING' = 0, 'NORMAL' = 1, 'DRIFTING' = 2),
    state_since        DateTime64(3, 'UTC'),
    last_event_time    DateTime64(3, 'UTC'),
    rolling_mean       Float64,
    rolling_std        Float64,
    rolling_count      UInt32,
    baseline_mean      Nullable(Float64),
    baseline_std       Nullable(Float64),
    z_score            Nullable(Float64),
    std_ratio          Nullable(Float64),
    config_version     UInt64,
    updated_at         DateTime64(3, 'UTC'),
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (source_id, metric);
