"""Push drift state to Alertmanager until SIGTERM/SIGINT (server mode; run_stack has it built in)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from detection.alerting.wiring import build_notifier, run_notifier
from detection.wiring import run_threads, stop_on_signals


class Command(BaseCommand):
    help = (
        "Every ALERT_EVALUATION_SECONDS read the DRIFTING keys from ClickHouse (drift_status_current) and post "
        "them as firing alerts, and recently ended drifts as resolved, to ALERTMANAGER_URL (API v2); re-send "
        "everything every ALERT_RESEND_SECONDS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=0, help="Prometheus metrics port (0 = off)")

    def handle(self, *args, **options):
        notifier = build_notifier()
        if notifier is None:
            raise CommandError("ALERTMANAGER_URL is empty: there is no Alertmanager to notify")
        stop = stop_on_signals()
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr="0.0.0.0")
        self.stdout.write(f"run_notifier: ClickHouse {settings.CLICKHOUSE_URL} -> {len(notifier.urls)} Alertmanager(s)")
        self.stdout.flush()
        errors = run_threads([("notifier", lambda s: run_notifier(notifier, s))], stop)
        if errors:
            raise SystemExit(1)
