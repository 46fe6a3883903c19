"""Versioned ClickHouse DDL: numbered ``.sql`` files applied once each, in order.

- Files live in ``detection/clickhouse/migrations/NNNN_verb_object.sql``; forward-only, every
  statement idempotent (``IF NOT EXISTS``); an applied file is never edited (its checksum is
  recorded and checked), a change is a new file.
- Applied files are recorded in ``<database>.schema_migrations`` (ReplacingMergeTree by name).
- The same files serve chDB and a ClickHouse server. A file whose first line starts with
  ``-- server-only`` is skipped (and not recorded) on chDB; the reason follows on that line.
- Values that differ by environment are named placeholders filled from settings through a
  fixed whitelist (:data:`PLACEHOLDERS`); nothing else builds DDL strings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PLACEHOLDERS = ("database", "kafka_brokers", "events_topic", "kafka_group")
_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_UNKNOWN_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
_SAFE_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:,\-]+$")
_FILE_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
SERVER_ONLY_MARK = "-- server-only"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def server_only(self) -> bool:
        return self.sql.lstrip().startswith(SERVER_ONLY_MARK)

    def statements(self, values: dict[str, str]) -> list[str]:
        """The file's statements with placeholders filled (comments kept, ';' stripped)."""
        unknown = {m for m in _UNKNOWN_PLACEHOLDER_RE.findall(self.sql) if m not in PLACEHOLDERS}
        if unknown:
            raise MigrationError(f"{self.name}: unknown placeholders {sorted(unknown)}")
        text = _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], self.sql)
        parts = re.split(r";\s*(?:\n|$)", text)
        return [p.strip() for p in parts if _has_code(p)]


def _has_code(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    migrations = []
    for index, path in enumerate(files, start=1):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_verb_object.sql")
        if int(match.group(1)) != index:
            raise MigrationError(f"{path.name}: migration numbers must be contiguous from 0001 (expected {index:04d})")
        migrations.append(Migration(name=path.stem, sql=path.read_text()))
    return migrations


def placeholder_values(*, database: str, kafka_brokers: str, events_topic: str, kafka_group: str) -> dict[str, str]:
    values = {"database": database, "kafka_brokers": kafka_brokers, "events_topic": events_topic, "kafka_group": kafka_group}
    for key, value in values.items():
        if not _SAFE_VALUE_RE.match(value):
            raise MigrationError(f"placeholder {key}={value!r} has characters not allowed in DDL")
    return values


def _ensure_bookkeeping(client: Client, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"""CREATE TABLE IF NOT EXISTS {database}.schema_migrations
        (
            name       String,
            checksum   String,
            applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        ENGINE = ReplacingMergeTree(applied_at)
        ORDER BY name"""
    )


def applied_migrations(client: Client, database: str) -> dict[str, str]:
    _ensure_bookkeeping(client, database)
    rows = client.query(f"SELECT name, argMax(checksum, applied_at) FROM {database}.schema_migrations GROUP BY name").result_rows
    return {name: checksum for name, checksum in rows}


@dataclass
class Plan:
    pending: list[Migration]
    already: list[str]
    skipped: list[str]


def plan(client: Client, database: str, *, embedded: bool) -> Plan:
    """What is left to apply, after checking that no applied file was edited."""
    applied = applied_migrations(client, database)
    result = Plan(pending=[], already=[], skipped=[])
    for migration in load_migrations():
        if migration.name in applied:
            if applied[migration.name] != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was applied with another checksum: "
                    "applied files must not be edited; add a new file"
                )
            result.already.append(migration.name)
        elif embedded and migration.server_only:
            result.skipped.append(migration.name)
        else:
            result.pending.append(migration)
    return result


def migrate(client: Client, values: dict[str, str], *, embedded: bool) -> tuple[Plan, list[str]]:
    """Apply the pending migrations in order; returns the plan and the names applied."""
    database = values["database"]
    todo = plan(client, database, embedded=embedded)
    applied = []
    for migration in todo.pending:
        for statement in migration.statements(values):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations", [[migration.name, migration.checksum]], column_names=["name", "checksum"]
        )
        applied.append(migration.name)
    return todo, applied
