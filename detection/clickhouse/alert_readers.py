"""Reads behind the alert notifier and the per-key Prometheus gauges.

Same rules as :mod:`detection.clickhouse.readers`: bound parameters only, ``FINAL`` where a
replayed row must not count twice, plain values out. Both read ``drift_status_current``, so
they are right whatever number of detector processes wrote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from detection.clickhouse.readers import _rows
from detection.clickhouse.tables import DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS
from detection.core.state import DriftState

_DT = "DateTime64(3, 'UTC')"


def drifting_status_list(client: Client, *, database: str) -> list[dict[str, Any]]:
    """Every key whose latest state is DRIFTING (one row per key)."""
    result = client.query(
        f"SELECT {', '.join(DRIFT_STATUS_COLUMNS)} FROM {{database:Identifier}}.drift_status_current FINAL "
        "WHERE state = {drifting:String} ORDER BY source_id, metric",
        parameters={"database": database, "drifting": DriftState.DRIFTING.value},
    )
    return _rows(result, ("state_since", "last_event_time", "updated_at"))


def recent_end_events(client: Client, *, database: str, detected_since: datetime) -> list[dict[str, Any]]:
    """For every key with a DRIFT_END detected (wall clock) at or after ``detected_since``, its
    two newest transitions (deduplicated), newest first: enough to tell whether the key's latest
    transition is that end and when the drift it ends started."""
    result = client.query(
        f"SELECT {', '.join(DRIFT_EVENT_COLUMNS)} FROM {{database:Identifier}}.drift_events FINAL "
        "WHERE (source_id, metric) IN ("
        "  SELECT source_id, metric FROM {database:Identifier}.drift_events "
        f"  WHERE event_type = 'DRIFT_END' AND detected_at >= {{since:{_DT}}}) "
        "ORDER BY source_id, metric, event_time DESC, drift_event_id DESC "
        "LIMIT 2 BY source_id, metric",
        parameters={"database": database, "since": detected_since},
    )
    rows = _rows(result, ("event_time", "detected_at"))
    for row in rows:
        row["event_type"] = str(row["event_type"])
    return rows


def key_state_list(client: Client, *, database: str) -> list[dict[str, Any]]:
    """Every key's current state and scores, for the per-key gauges of /metrics."""
    columns = [c for c in ("source_id", "metric", "state", "z_score", "std_ratio", "method") if c in DRIFT_STATUS_COLUMNS]
    result = client.query(
        f"SELECT {', '.join(columns)} FROM {{database:Identifier}}.drift_status_current FINAL",
        parameters={"database": database},
    )
    rows = _rows(result, ())
    for row in rows:
        row["state"] = str(row["state"])
    return rows
