"""Test-suite wiring.

- Markers unit / integration / e2e are applied from the folder a test lives in.
- Integration tests use the real services that `scripts/services up` started (Postgres, Kafka)
  and a real chDB directory private to this test session (chDB locks its directory, so the
  session's ClickHouse never shares one with a process the tests start).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# In CI (CI=true) property tests use a fixed seed sequence, so a run is reproducible and a main
# branch that passed keeps passing; locally they explore new examples on every run.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if not path.is_relative_to(TESTS_DIR):  # doctests of the pure core are unit tests
            item.add_marker(pytest.mark.unit)
            continue
        parts = path.relative_to(TESTS_DIR).parts
        if parts and parts[0] in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))


# --- ClickHouse (chDB) ---------------------------------------------------------------------
CLICKHOUSE_TABLES = ("raw_events", "drift_events", "drift_status_current")


@pytest.fixture(scope="session")
def clickhouse_session(tmp_path_factory):
    """A migrated chDB database in a directory of its own for this session."""
    from django.conf import settings

    from detection.clickhouse.client import close_client, get_client
    from detection.clickhouse.schema import migrate_from_settings

    url = f"chdb://{tmp_path_factory.mktemp('chdb')}"
    old = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = url
    client = get_client(url)
    migrate_from_settings()
    yield client
    close_client()
    settings.CLICKHOUSE_URL = old


@pytest.fixture
def clickhouse(clickhouse_session):
    """The session's chDB client; the data tables are emptied after each test."""
    from django.conf import settings

    yield clickhouse_session
    for table in CLICKHOUSE_TABLES:
        clickhouse_session.command(f"TRUNCATE TABLE IF EXISTS {settings.CLICKHOUSE_DATABASE}.{table}")


# --- Kafka ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kafka_bootstrap():
    from django.conf import settings

    return settings.KAFKA_BOOTSTRAP_SERVERS


@pytest.fixture
def kafka_topic(kafka_bootstrap):
    """A fresh topic (uuid name) on the real broker, deleted afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"test.{uuid.uuid4().hex[:12]}"
    futures = admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    futures[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


# --- Alertmanager (the real binary scripts/services builds) ---------------------------------
@pytest.fixture
def receiver():
    """A webhook receiver that records what Alertmanager delivers."""
    from detection.alerting.receiver import WebhookReceiver

    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def alertmanager(tmp_path, receiver):
    """A private Alertmanager process routing to ``receiver``."""
    from tests.support.alertmanager import AlertmanagerProcess

    am = AlertmanagerProcess(tmp_path / "alertmanager", receiver.url).start()
    yield am
    am.stop()
