"""Audit reads for the fault suite (`make chaos`) and its tests: what was stored, exactly.

These read everything a run wrote (no paging), so they are for bounded test and chaos data,
never for the API. ``FINAL`` is used on purpose: the question is what a reader that must not
double count sees, i.e. whether a replay left a visible duplicate.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client


def raw_event_audit(client: Client, *, database: str) -> dict:
    """``{"rows_final": n, "event_ids": [...]}``: rows visible with FINAL and the distinct ids.

    ``rows_final - len(event_ids)`` is the number of duplicates a reader would see.
    """
    params = {"database": database}
    rows_final = client.query("SELECT count() FROM {database:Identifier}.raw_events FINAL", parameters=params).result_rows[0][0]
    ids = client.query("SELECT DISTINCT event_id FROM {database:Identifier}.raw_events", parameters=params).result_rows
    return {"rows_final": int(rows_final), "event_ids": [int(r[0]) for r in ids]}


def drift_transitions(client: Client, *, database: str) -> list[dict]:
    """Every transition visible with FINAL, in a stable order, with its detection time."""
    result = client.query(
        "SELECT drift_event_id, source_id, metric, toString(event_type), toUnixTimestamp64Milli(event_time),"
        " toUnixTimestamp64Milli(detected_at), trigger_event_id"
        " FROM {database:Identifier}.drift_events FINAL"
        " ORDER BY source_id, metric, event_time, drift_event_id",
        parameters={"database": database},
    )
    return [
        {"drift_event_id": int(r[0]), "source_id": r[1], "metric": r[2], "event_type": r[3], "event_time_ms": int(r[4]),
         "detected_at_ms": int(r[5]), "trigger_event_id": int(r[6])}
        for r in result.result_rows
    ]
