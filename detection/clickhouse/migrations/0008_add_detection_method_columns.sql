-- The detection method of each transition and status (issue #11): 'zscore' (the seed rule) or
-- 'cusum'; the decision statistic nearest its threshold at that evaluation (zscore: the z-score
-- against z_threshold; cusum: the CUSUM with the largest statistic / threshold) and, for cusum,
-- all four statistics and their decision thresholds (mean_up, mean_down, std_up, std_down).
-- Rows written before this migration read as zscore with no statistic.
ALTER TABLE {database}.drift_events
    ADD COLUMN IF NOT EXISTS method LowCardinality(String) DEFAULT 'zscore',
    ADD COLUMN IF NOT EXISTS statistic_name LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS statistic Nullable(Float64),
    ADD COLUMN IF NOT EXISTS threshold Nullable(Float64),
    ADD COLUMN IF NOT EXISTS cusum_statistics Array(Float64),
    ADD COLUMN IF NOT EXISTS cusum_thresholds Array(Float64);

ALTER TABLE {database}.drift_status_current
    ADD COLUMN IF NOT EXISTS method LowCardinality(String) DEFAULT 'zscore',
    ADD COLUMN IF NOT EXISTS statistic_name LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS statistic Nullable(Float64),
    ADD COLUMN IF NOT EXISTS threshold Nullable(Float64),
    ADD COLUMN IF NOT EXISTS cusum_statistics Array(Float64),
    ADD COLUMN IF NOT EXISTS cusum_thresholds Array(Float64);
