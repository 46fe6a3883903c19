"""Run the detector (and, with --ingest, the raw-event ingester) until SIGTERM/SIGINT."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from detection.wiring import build_detector, build_ingester, run_threads, stop_on_signals


class Command(BaseCommand):
    help = (
        "Consume telemetry.events, detect drift, write drift_events/drift_status_current to ClickHouse and "
        "commit offsets after each write. --ingest also writes raw_events (needed on chDB, where ClickHouse's "
        "Kafka engine is unavailable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ingest", action="store_true", help="also run the raw-event ingester in this process")
        parser.add_argument("--metrics-port", type=int, default=settings.DETECTOR_METRICS_PORT,
                            help="Prometheus metrics port (0 = off)")
        parser.add_argument("--checkpoint-seconds", type=float, default=30.0,
                            help="how often each partition's detector state is checkpointed")

    def handle(self, *args, **options):
        stop = stop_on_signals()
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr="127.0.0.1")
        detector, handler = build_detector(checkpoint_seconds=options["checkpoint_seconds"])
        services = [("detector", detector.run)]
        if options["ingest"]:
            ingester, _ = build_ingester()
            services.append(("ingest", ingester.run))
        self.stdout.write(
            f"run_detector: consuming {settings.KAFKA_EVENTS_TOPIC} as {settings.KAFKA_DETECTOR_GROUP}"
            f"{' (+ raw-event ingest)' if options['ingest'] else ''}; ClickHouse {settings.CLICKHOUSE_URL}"
        )
        errors = run_threads(services, stop)
        self.stdout.write(f"run_detector: stopped; totals {dict(handler.totals)}")
        if errors:
            raise SystemExit(1)
