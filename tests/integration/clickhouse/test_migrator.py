"""ClickHouse DDL on real chDB: idempotent migrations, bookkeeping, server-only parts."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command

from detection.clickhouse.migrator import (
    MigrationError,
    load_migrations,
    migrate,
    placeholder_values,
)
from detection.clickhouse.schema import settings_placeholders


def _schema(client, database):
    return client.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String} ORDER BY table, position",
        parameters={"db": database},
    ).result_rows


def _engines(client, database):
    return dict(client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", parameters={"db": database}
    ).result_rows)


def test_migration_files_are_numbered_contiguously():
    names = [m.name for m in load_migrations()]
    assert names == sorted(names)
    assert [int(n[:4]) for n in names] == list(range(1, len(names) + 1))


def test_migrate_twice_leaves_the_same_schema(clickhouse_session, capsys):
    database = settings.CLICKHOUSE_DATABASE
    before = _schema(clickhouse_session, database)
    engines = _engines(clickhouse_session, database)
    call_command("migrate_clickhouse")
    call_command("migrate_clickhouse")
    out = capsys.readouterr().out
    assert "0 applied" in out
    assert _schema(clickhouse_session, database) == before
    assert _engines(clickhouse_session, database) == engines
    tables = {t for t, _, _ in before}
    assert {"raw_events", "drift_events", "drift_status_current", "schema_migrations"} <= tables
    assert "ReplacingMergeTree" in engines["raw_events"]
    assert "ReplacingMergeTree(version)" in engines["drift_status_current"]
    # server-only Kafka engine ingest is not created on chDB, and not recorded as applied
    assert "raw_events_queue" not in tables
    recorded = {r[0] for r in clickhouse_session.query(f"SELECT name FROM {database}.schema_migrations FINAL").result_rows}
    assert recorded == {m.name for m in load_migrations() if not m.server_only}


def test_a_fresh_database_gets_every_embedded_migration(clickhouse_session):
    values = {**settings_placeholders(), "database": "fresh_db"}
    todo, applied = migrate(clickhouse_session, values, embedded=True)
    assert applied == [m.name for m in load_migrations() if not m.server_only]
    assert todo.skipped == [m.name for m in load_migrations() if m.server_only]
    todo, applied = migrate(clickhouse_session, values, embedded=True)
    assert applied == [] and len(todo.already) == len(load_migrations()) - len(todo.skipped)
    clickhouse_session.command("DROP DATABASE fresh_db")


def test_an_edited_applied_file_is_refused(clickhouse_session):
    values = {**settings_placeholders(), "database": "tampered_db"}
    migrate(clickhouse_session, values, embedded=True)
    clickhouse_session.insert(
        "tampered_db.schema_migrations", [["0001_create_raw_events", "not-the-checksum"]], column_names=["name", "checksum"]
    )
    with pytest.raises(MigrationError, match="another checksum"):
        migrate(clickhouse_session, values, embedded=True)
    clickhouse_session.command("DROP DATABASE tampered_db")


def test_placeholder_values_are_whitelisted():
    with pytest.raises(MigrationError):
        placeholder_values(database="drift", kafka_brokers="x'; DROP TABLE y; --", events_topic="t", kafka_group="g")


def test_raw_events_duplicates_collapse_with_final(clickhouse):
    db = settings.CLICKHOUSE_DATABASE
    row = [42, "s", "m", 1.5, "2024-01-01 00:00:00.123"]
    cols = ["event_id", "source_id", "metric", "value", "event_time"]
    from datetime import datetime, timezone

    row[4] = datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=timezone.utc)
    clickhouse.insert(f"{db}.raw_events", [row, row], column_names=cols)
    clickhouse.insert(f"{db}.raw_events", [row], column_names=cols)
    assert clickhouse.command(f"SELECT count() FROM {db}.raw_events FINAL") == 1


def test_code_column_lists_match_the_migrated_tables(clickhouse_session):
    from detection.clickhouse import tables

    database = settings.CLICKHOUSE_DATABASE
    actual = {}
    for table, name, _ in _schema(clickhouse_session, database):
        actual.setdefault(table, []).append(name)
    assert tuple(c for c in actual["raw_events"] if c != "first_copy_rank") == tables.RAW_EVENT_COLUMNS
    assert tuple(actual["drift_events"]) == tables.DRIFT_EVENT_COLUMNS
    assert tuple(actual["drift_status_current"]) == tables.DRIFT_STATUS_COLUMNS
    assert tuple(actual["detector_checkpoints"]) == tables.CHECKPOINT_COLUMNS
