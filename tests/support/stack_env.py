"""Environment for tests that start the stack's commands as subprocesses (run_stack, producers)."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings


def create_stack_topics(bootstrap: str, prefix: str) -> tuple[str, dict[str, str]]:
    """Fresh events (3 partitions), dead-letter and control topics on the real broker.

    Returns a unique suffix and the KAFKA_*_TOPIC variables naming them.
    """
    suffix = uuid.uuid4().hex[:8]
    topics = {"KAFKA_EVENTS_TOPIC": f"{prefix}.events.{suffix}", "KAFKA_DLQ_TOPIC": f"{prefix}.dlq.{suffix}",
              "KAFKA_CONTROL_TOPIC": f"{prefix}.control.{suffix}"}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=3 if "events" in t else 1, replication_factor=1)
                                       for t in topics.values()]).values():
        future.result(timeout=30)
    return suffix, topics


def database_url() -> str:
    """DATABASE_URL of the test database (subprocesses must use the same one)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def delete_stack_topics(bootstrap: str, topics: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(topics.values())).values():
        future.result(timeout=30)
