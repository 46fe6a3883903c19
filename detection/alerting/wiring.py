"""Composition root of the alert notifier: settings -> :class:`AlertNotifier`.

Used by ``run_stack`` (a thread next to the detector, sharing the process's ClickHouse client)
and by ``manage.py run_notifier`` (server mode). ``ALERTMANAGER_URL`` empty = no notifier.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from detection.alerting.alerts import DEFAULT_SEVERITY, DEFAULT_SOURCE_TYPE, KeyContext
from detection.alerting.notifier import AlertNotifier
from detection.clickhouse import alert_readers
from detection.clickhouse.client import get_client


def _load_context() -> Callable[[str, str], KeyContext]:
    """Severity and thresholds (threshold precedence) and source types, from PostgreSQL."""
    from django.db import close_old_connections

    from config_app.scenario_selectors import source_types_get
    from config_app.selectors import threshold_set_get

    close_old_connections()  # a connection broken by a PostgreSQL outage is replaced
    thresholds = threshold_set_get()
    source_types = source_types_get()

    def context_for(source_id: str, metric: str) -> KeyContext:
        rule = thresholds.for_key(source_id, metric)
        source_type = source_types.get(source_id, DEFAULT_SOURCE_TYPE)
        if rule is None:
            return KeyContext(severity=DEFAULT_SEVERITY, source_type=source_type)
        return KeyContext(severity=rule.severity, source_type=source_type, z_threshold=rule.z_threshold,
                          std_ratio_threshold=rule.std_ratio_threshold)

    return context_for


def build_notifier() -> AlertNotifier | None:
    """The notifier configured by the settings, or None when ALERTMANAGER_URL is empty."""
    if not settings.ALERTMANAGER_URL:
        return None
    database = settings.CLICKHOUSE_DATABASE
    return AlertNotifier(
        urls=settings.ALERTMANAGER_URL,
        read_drifting=lambda: alert_readers.drifting_status_list(get_client(), database=database),
        read_recent_ends=lambda since: alert_readers.recent_end_events(get_client(), database=database,
                                                                       detected_since=since),
        load_context=_load_context,
        dashboard_url=settings.ALERT_DASHBOARD_URL,
        resend_seconds=settings.ALERT_RESEND_SECONDS,
        evaluation_seconds=settings.ALERT_EVALUATION_SECONDS,
        config_refresh_seconds=settings.CONFIG_REFRESH_SECONDS,
        timeout_seconds=settings.ALERTMANAGER_TIMEOUT_SECONDS,
    )


def run_notifier(notifier: AlertNotifier, stop) -> None:
    """Run until ``stop``; the thread's PostgreSQL connection is closed at the end."""
    from django.db import connection

    try:
        notifier.run(stop)
    finally:
        connection.close()
