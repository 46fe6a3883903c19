"""Builds migrator inputs from settings (the composition root for ClickHouse DDL)."""

from __future__ import annotations

from django.conf import settings

from detection.clickhouse.client import get_client, is_embedded
from detection.clickhouse.migrator import Plan, migrate, placeholder_values


def settings_placeholders() -> dict[str, str]:
    return placeholder_values(
        database=settings.CLICKHOUSE_DATABASE,
        kafka_brokers=settings.CLICKHOUSE_KAFKA_BROKERS,
        events_topic=settings.KAFKA_EVENTS_TOPIC,
        kafka_group=settings.CLICKHOUSE_KAFKA_GROUP,
    )


def migrate_from_settings() -> tuple[Plan, list[str]]:
    return migrate(get_client(), settings_placeholders(), embedded=is_embedded(settings.CLICKHOUSE_URL))
