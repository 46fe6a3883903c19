-- Detector state checkpoints, one per (consumer group, topic, partition): the exact snapshot of
-- the partition's detector (detection.core.snapshot) and the offset of the next message it has
-- not processed. After a crash or rebalance the partition restarts from here; the replay of the
-- messages after next_offset is idempotent (deterministic ids). The newest checkpoint wins.
CREATE TABLE IF NOT EXISTS {database}.detector_checkpoints
(
    consumer_group LowCardinality(String),
    topic          LowCardinality(String),
    partition      UInt32,
    next_offset    Int64,
    state          String CODEC(ZSTD(3)),
    created_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (consumer_group, topic, partition);
