"""Run the detector (and, with --ingest, the raw-event ingester) until SIGTERM/SIGINT."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from driftsite.shutdown import StopRequest, stop_on_signals
from detection.wiring import SupervisionPolicy, build_detector, build_ingester, stream_part, supervise, tune_interpreter


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
        request = StopRequest()
        with stop_on_signals(request):
            self._run(request.event, options)

    def _run(self, stop, options):
        tune_interpreter()
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr="127.0.0.1")
        totals: dict = {}
        services = [("detector", stream_part(lambda: build_detector(checkpoint_seconds=options["checkpoint_seconds"]), totals))]
        if options["ingest"]:
            services.append(("ingest", stream_part(build_ingester, totals)))
        self.stdout.write(
            f"run_detector: consuming {settings.KAFKA_EVENTS_TOPIC} as {settings.KAFKA_DETECTOR_GROUP}"
            f"{' (+ raw-event ingest)' if options['ingest'] else ''}; ClickHouse {settings.CLICKHOUSE_URL}"
        )
        errors = supervise(services, stop, SupervisionPolicy(
            max_restarts=settings.SUPERVISOR_MAX_RESTARTS, window_seconds=settings.SUPERVISOR_WINDOW_SECONDS))
        totals.pop("raw_events_written", None)
        self.stdout.write(f"run_detector: stopped; totals {totals}")
        if errors:
            raise SystemExit(1)
