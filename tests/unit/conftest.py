"""Unit tests are pure: they must not reach Kafka or ClickHouse (Postgres is already refused by
pytest-django without the django_db mark). Creating a client fails loudly here, whether the code
reaches it through the library module or through a name it imported from it."""

from __future__ import annotations

import sys

import pytest

PROJECT = ("detection", "producers", "config_app", "monitoring_api", "driftsite", "dags", "scripts")


class UnitTestReachedAService(AssertionError):
    pass


def _refuse(what):
    def refuse(*args, **kwargs):
        raise UnitTestReachedAService(f"a unit test tried to reach {what}; move it to tests/integration")

    return refuse


@pytest.fixture(autouse=True)
def _no_services(monkeypatch):
    import clickhouse_connect
    import confluent_kafka
    import confluent_kafka.admin

    real = {
        confluent_kafka.Producer: "Kafka (Producer)",
        confluent_kafka.Consumer: "Kafka (Consumer)",
        confluent_kafka.admin.AdminClient: "Kafka (AdminClient)",
        clickhouse_connect.get_client: "ClickHouse",
        clickhouse_connect.create_client: "ClickHouse",
    }
    for module in [confluent_kafka, confluent_kafka.admin, clickhouse_connect] + [
        m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] in PROJECT
    ]:
        for attr, value in list(vars(module).items()):
            try:
                what = real.get(value)
            except TypeError:  # unhashable
                continue
            if what is not None:
                monkeypatch.setattr(module, attr, _refuse(what))
