"""Row builders for the API tests (plain dicts with the ClickHouse tables' columns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detection.clickhouse.tables import DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS, RAW_EVENT_COLUMNS

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

# the tables' columns, as the writers use them
STATUS_COLUMNS = DRIFT_STATUS_COLUMNS
EVENT_COLUMNS = DRIFT_EVENT_COLUMNS
RAW_COLUMNS = RAW_EVENT_COLUMNS


# The method columns as the detector writes them for a zscore row (cusum rows override them).
ZSCORE_DECISION = {
    "method": "zscore", "statistic_name": "z_score", "statistic": 5.0, "threshold": 2.0,
    "cusum_statistics": [], "cusum_thresholds": [],
}


def status_row(source_id, metric, state="NORMAL", *, at=T0, version=None, **overrides):
    row = {
        "source_id": source_id,
        "metric": metric,
        "state": state,
        "state_since": at - timedelta(minutes=5),
        "last_event_time": at,
        "rolling_mean": 10.0,
        "rolling_std": 1.0,
        "rolling_count": 30,
        "baseline_mean": 10.0,
        "baseline_std": 1.0,
        "z_score": 0.5,
        "std_ratio": 1.0,
        "config_version": 1,
        "updated_at": at + timedelta(seconds=1),
        "version": version if version is not None else int(at.timestamp() * 1000),
        **ZSCORE_DECISION,
        "statistic": 0.5,
    }
    row.update(overrides)
    return row


def event_row(drift_event_id, source_id, metric, event_type="DRIFT_START", *, at=T0, **overrides):
    row = {
        "drift_event_id": drift_event_id,
        "source_id": source_id,
        "metric": metric,
        "event_type": event_type,
        "event_time": at,
        "detected_at": at + timedelta(milliseconds=250),
        "rolling_mean": 15.0,
        "rolling_std": 1.5,
        "rolling_count": 30,
        "baseline_mean": 10.0,
        "baseline_std": 1.0,
        "z_score": 5.0,
        "std_ratio": 1.5,
        "trigger_event_id": drift_event_id + 1000,
        "config_version": 1,
        **ZSCORE_DECISION,
    }
    row.update(overrides)
    return row


def raw_row(event_id, source_id, metric, value, at):
    return {"event_id": event_id, "source_id": source_id, "metric": metric, "value": value, "event_time": at, "ingest_time": at}


# Threshold values of the API tests (spelled out, so a change of the demo defaults changes nothing here).
THRESHOLD = {
    "window_seconds": 30.0,
    "min_samples": 10,
    "z_threshold": 2.0,
    "std_ratio_threshold": 2.5,
    "enter_hits": 3,
    "exit_hits": 5,
    "allowed_lateness_seconds": 5.0,
}
