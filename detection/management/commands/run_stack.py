"""The embedded stack: one process that owns chDB and runs every part that touches it.

chDB allows one process per data directory, so in embedded mode raw-event ingestion, the
detector, the baseline refresher (the same function as the Airflow DAG, on its schedule) and
the API + dashboard (waitress, a production WSGI server, in threads) all run here. Producers
and the drift controller are separate processes that only touch Kafka and Postgres. In server
mode the same parts run as separate processes (run_detector, Airflow, gunicorn).

Every part is supervised (:func:`detection.wiring.supervise`): a failing part is restarted with
backoff while the others, the API included, keep running and ``/health`` reports it; a part that
keeps failing makes the process exit 1. ``--detectors N`` runs N detector consumers in the
detector group (they share the partitions and hand them over through checkpoints).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from detection.alerting.wiring import build_notifier, run_notifier
from driftsite.shutdown import StopRequest, stop_on_signals
from detection.wiring import SupervisionPolicy, build_detector, build_ingester, stream_part, supervise, tune_interpreter

log = logging.getLogger("detection.stack")


def baseline_refresher(stop, *, interval_seconds: float) -> None:
    """Call baseline_fold on a schedule until ``stop`` (a failed fold is logged and retried)."""
    from django.db import connection

    from detection.baselines.fold import baseline_fold

    try:
        while not stop.wait(interval_seconds):
            try:
                result = baseline_fold(until=datetime.now(timezone.utc))
                if result.keys_updated:
                    log.info("baselines: %s", result.summary())
            except Exception:
                log.exception("baseline fold failed; retrying in %.0f s", interval_seconds)
    finally:
        connection.close()


def api_server(stop, *, host: str, port: int, threads: int = 8) -> None:
    """Serve driftsite.wsgi with waitress until ``stop``."""
    from driftsite.wsgi import application
    from driftsite.wsgi_server import serve_until

    serve_until(stop, application, host=host, port=port, threads=threads, ident="driftwatch")


class Command(BaseCommand):
    help = "Run ingestion, detector, baseline refresher and the API/dashboard in one process (embedded mode)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.API_HOST)
        parser.add_argument("--port", type=int, default=settings.API_PORT)
        parser.add_argument("--baseline-interval", type=float, default=settings.BASELINE_INTERVAL_SECONDS,
                            help="seconds between baseline folds")
        parser.add_argument("--no-api", action="store_true", help="do not serve the API and dashboard")
        parser.add_argument("--detectors", type=int, default=1,
                            help="detector consumers in this process (one consumer group; they share the partitions)")
        parser.add_argument("--metrics-port", type=int, default=settings.DETECTOR_METRICS_PORT,
                            help="Prometheus metrics of the stream services (0 = off; the API also serves /metrics)")

    def handle(self, *args, **options):
        request = StopRequest()
        with stop_on_signals(request):
            self._run(request.event, options)

    def _run(self, stop, options):
        tune_interpreter()
        call_command("migrate_clickhouse", verbosity=0)
        if options["metrics_port"]:
            from prometheus_client import start_http_server

            start_http_server(options["metrics_port"], addr="127.0.0.1")
        if options["detectors"] < 1:
            raise CommandError("--detectors must be at least 1")
        totals: dict = {}
        services = [("ingest", stream_part(build_ingester, totals))]
        for i in range(options["detectors"]):
            name = "detector" if options["detectors"] == 1 else f"detector-{i}"
            services.append((name, stream_part(lambda name=name: build_detector(name=name), totals)))
        # BASELINE_FOLD_VIA: timer = fold here on a timer; endpoint = Airflow schedules the fold
        # and asks for it through the internal endpoint; direct = Airflow folds without us.
        if settings.BASELINE_FOLD_VIA == "timer":
            services.append(("baselines", lambda s: baseline_refresher(s, interval_seconds=options["baseline_interval"])))
        elif settings.BASELINE_FOLD_VIA == "endpoint":
            from detection.baselines.endpoint import serve

            services.append(("fold-endpoint", lambda s: serve(s, host=settings.INTERNAL_API_HOST,
                                                              port=settings.INTERNAL_API_PORT,
                                                              token=settings.INTERNAL_API_TOKEN)))
        base = f"http://{options['host']}:{options['port']}"
        notifier = build_notifier()  # None when ALERTMANAGER_URL is empty
        if notifier is not None:
            services.append(("notifier", lambda s: run_notifier(notifier, s)))
        if not options["no_api"]:
            services.append(("api", lambda s: api_server(s, host=options["host"], port=options["port"])))
        self.stdout.write(
            f"run_stack: ClickHouse {settings.CLICKHOUSE_URL}; Kafka {settings.KAFKA_BOOTSTRAP_SERVERS} "
            f"topic {settings.KAFKA_EVENTS_TOPIC}"
        )
        if not options["no_api"]:
            self.stdout.write(f"run_stack: dashboard {base}/dashboard/  API {base}/drift/status  admin {base}/admin/")
        self.stdout.write(f"run_stack: baselines folded via {settings.BASELINE_FOLD_VIA}"
                          + (f" (fold endpoint {settings.INTERNAL_API_HOST}:{settings.INTERNAL_API_PORT})"
                             if settings.BASELINE_FOLD_VIA == "endpoint" else ""))
        self.stdout.flush()
        errors = supervise(services, stop, SupervisionPolicy(
            max_restarts=settings.SUPERVISOR_MAX_RESTARTS, window_seconds=settings.SUPERVISOR_WINDOW_SECONDS))
        written = totals.pop("raw_events_written", 0)
        self.stdout.write(f"run_stack: stopped; detector {totals}, raw events written {written}")
        if errors:
            raise SystemExit(1)
