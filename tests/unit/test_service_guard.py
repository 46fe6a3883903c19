"""The unit suite refuses to reach a service: building a Kafka consumer fails loudly."""

import pytest

from tests.unit.conftest import UnitTestReachedAService


def test_a_unit_test_cannot_create_a_kafka_consumer():
    from detection.stream.runner import StreamRunner

    with pytest.raises(UnitTestReachedAService):
        StreamRunner(consumer_config={"bootstrap.servers": "127.0.0.1:9092", "group.id": "x"}, topics=["t"],
                     handler=None, max_events=1, max_seconds=1)


def test_a_unit_test_cannot_open_clickhouse():
    from detection.clickhouse.client import create_client

    with pytest.raises(UnitTestReachedAService):
        create_client("chdb:///tmp/never-opened-by-unit-tests")
