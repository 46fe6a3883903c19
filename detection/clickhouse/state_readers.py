"""Reads the stream services need at start-up (checkpoints). API reads live in readers.py."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client


def checkpoint_get(client: Client, database: str, *, consumer_group: str, topic: str, partition: int) -> tuple[int, bytes] | None:
    """The newest checkpoint of a partition as (next_offset, snapshot bytes), or None."""
    result = client.query(
        f"""SELECT next_offset, state FROM {database}.detector_checkpoints
            WHERE consumer_group = {{g:String}} AND topic = {{t:String}} AND partition = {{p:UInt32}}
            ORDER BY created_at DESC LIMIT 1""",
        parameters={"g": consumer_group, "t": topic, "p": partition},
        column_formats={"state": "bytes"},
    )
    if not result.result_rows:
        return None
    offset, state = result.result_rows[0]
    return int(offset), state if isinstance(state, bytes) else state.encode("latin-1")


def drift_events_list(client: Client, database: str) -> list[dict]:
    """Every drift transition, deduplicated (a replayed transition counts once), oldest first."""
    result = client.query(
        f"""SELECT drift_event_id, source_id, metric, toString(event_type) AS event_type,
                   toUnixTimestamp64Milli(event_time) AS event_time_ms, z_score, std_ratio, config_version,
                   method, statistic_name, statistic, threshold, cusum_statistics, cusum_thresholds
            FROM {database}.drift_events FINAL
            ORDER BY event_time, source_id, metric, drift_event_id"""
    )
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def drift_status_list(client: Client, database: str) -> list[dict]:
    """The latest state of every key (deduplicated by version)."""
    result = client.query(
        f"""SELECT source_id, metric, toString(state) AS state, rolling_count,
                   toUnixTimestamp64Milli(last_event_time) AS last_event_time_ms, config_version
            FROM {database}.drift_status_current FINAL ORDER BY source_id, metric"""
    )
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def drift_starts_between(client: Client, database: str, *, since_ms: int, until_ms: int) -> list[tuple[str, str, int, int]]:
    """(source_id, metric, event_time_ms, detected_at_ms) of every DRIFT_START in the range."""
    return client.query(
        f"""SELECT source_id, metric, toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(detected_at)
            FROM {database}.drift_events FINAL
            WHERE event_type = 'DRIFT_START'
              AND event_time >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC')
              AND event_time < fromUnixTimestamp64Milli({{until:Int64}}, 'UTC')
            ORDER BY event_time""",
        parameters={"since": since_ms, "until": until_ms},
    ).result_rows


def raw_events_between(client: Client, database: str, *, since_ms: int, until_ms: int) -> int:
    """Distinct raw events with an event time in the range."""
    return int(client.query(
        f"""SELECT uniqExact(event_id) FROM {database}.raw_events
            WHERE event_time >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC')
              AND event_time < fromUnixTimestamp64Milli({{until:Int64}}, 'UTC')""",
        parameters={"since": since_ms, "until": until_ms},
    ).result_rows[0][0])
