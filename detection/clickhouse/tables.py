"""Column lists of the ClickHouse tables, shared by the writers and the readers.

A test compares them with ``system.columns`` after the migrations ran, so the DDL and the code
cannot drift apart silently.
"""

# Added by migration 0007 to both drift tables: the detection method and its decision statistic.
METHOD_COLUMNS = ("method", "statistic_name", "statistic", "threshold", "cusum_statistics", "cusum_thresholds")

RAW_EVENT_COLUMNS = ("event_id", "source_id", "metric", "value", "event_time", "ingest_time")

DRIFT_EVENT_COLUMNS = (
    "drift_event_id", "source_id", "metric", "event_type", "event_time", "detected_at",
    "rolling_mean", "rolling_std", "rolling_count", "baseline_mean", "baseline_std",
    "z_score", "std_ratio", "trigger_event_id", "config_version",
    *METHOD_COLUMNS,
)

DRIFT_STATUS_COLUMNS = (
    "source_id", "metric", "state", "state_since", "last_event_time", "rolling_mean", "rolling_std",
    "rolling_count", "baseline_mean", "baseline_std", "z_score", "std_ratio", "config_version",
    "updated_at", "version", *METHOD_COLUMNS,
)

CHECKPOINT_COLUMNS = ("consumer_group", "topic", "partition", "next_offset", "state", "created_at")
