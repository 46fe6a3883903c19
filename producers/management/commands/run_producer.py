"""manage.py run_producer --kind stable|dynamic|drift: simulated telemetry to Kafka.

Registers its sources in Postgres (source_metadata, bulk upsert), then produces keyed JSON events
(detection.core.events.encode_event, key = kafka_key(source_id, metric)) with an idempotent
producer. stdout gets ONE line at the end: a JSON summary (counts, delivery errors); stderr gets
a progress line every --progress-interval seconds. Exit status: 0 if every message was
acknowledged by the broker, 1 otherwise (or on a usage/setup error). SIGTERM/SIGINT stop the
loop, flush what is queued, and exit the same way. Touches only Kafka and Postgres.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from detection.core.events import InvalidEvent, iso_to_ms
from producers.injection import InjectionRates
from producers.kafka import ControlListener, KafkaSetupError, KeyedProducer, producer_config
from producers.runner import ProducerPlan, ProducerRun, source_ids_for
from config_app.services.sources import sources_register
from driftsite.shutdown import StopRequest, stop_on_signals
from producers.signals import SIGNAL_KINDS


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError
    return value


class Command(BaseCommand):
    help = "Produce simulated telemetry (stable, dynamic or drift signals) to Kafka."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=SIGNAL_KINDS,
                            help="stable: stationary; dynamic: slow bounded movement; drift: stable + drift.control commands.")
        parser.add_argument("--sources", type=int, default=5, help="Number of sources (default 5).")
        parser.add_argument("--metrics", default="cpu,latency_ms", help="Comma-separated metric names (default cpu,latency_ms).")
        parser.add_argument("--rate", type=float, default=5.0,
                            help="Events per second PER KEY (source x metric); total = rate x keys (default 5).")
        stop = parser.add_mutually_exclusive_group()
        stop.add_argument("--count", type=int, help="Stop after this many events in total (injected extras not counted).")
        stop.add_argument("--duration", type=float,
                          help="Stop after this many seconds (of event time with --simulated-clock, else wall time).")
        parser.add_argument("--seed", type=int, default=42, help="Seed of the values and of the fault injection (default 42).")
        parser.add_argument("--simulated-clock", action="store_true",
                            help="Event times advance by 1/rate per tick from --start-time and the producer runs as fast "
                                 "as it can (needs --count or --duration).")
        parser.add_argument("--start-time", help="ISO-8601 with offset: first event time with --simulated-clock (default: such that the last "
                                 "event time is now, so no event is in the future).")
        parser.add_argument("--source-prefix", help="Sources are named <prefix>-000, <prefix>-001, ... (default: the kind).")
        parser.add_argument("--topic", help="Events topic (default settings.KAFKA_EVENTS_TOPIC).")
        parser.add_argument("--control-topic", help="Control topic a drift producer follows (default settings.KAFKA_CONTROL_TOPIC).")
        parser.add_argument("--bootstrap-servers", help="Kafka brokers (default settings.KAFKA_BOOTSTRAP_SERVERS).")
        parser.add_argument("--duplicate-rate", type=_fraction, default=0.0, help="Fraction of events sent twice.")
        parser.add_argument("--out-of-order-rate", type=_fraction, default=0.0,
                            help="Fraction of events held back 0.5-3 s of event time (sent after newer ones).")
        parser.add_argument("--late-rate", type=_fraction, default=0.0,
                            help="Fraction of events held back 30-60 s of event time (beyond allowed lateness).")
        parser.add_argument("--malformed-rate", type=_fraction, default=0.0,
                            help="Per event, probability of one extra malformed message (not JSON, missing field, NaN, "
                                 "bad timestamp, ~100 KB payload).")
        parser.add_argument("--progress-interval", type=float, default=5.0, help="Seconds between progress lines on stderr.")
        parser.add_argument("--delivery-timeout", type=float, default=settings.PRODUCER_DELIVERY_TIMEOUT_SECONDS,
                            help="Seconds a message may wait for the broker's acknowledgement (librdkafka keeps retrying "
                                 "meanwhile) before it counts as failed: a broker outage shorter than this loses nothing. "
                                 "Default PRODUCER_DELIVERY_TIMEOUT_SECONDS (600).")
        parser.add_argument("--no-register", action="store_true", help="Do not register the sources in source_metadata.")

    def handle(self, *args, **opts):
        kind = opts["kind"]
        if opts["sources"] < 1:
            raise CommandError("--sources must be >= 1")
        metrics = tuple(m.strip() for m in opts["metrics"].split(",") if m.strip())
        if opts["simulated_clock"] and opts["count"] is None and opts["duration"] is None:
            raise CommandError("--simulated-clock needs --count or --duration (it runs as fast as it can)")
        if opts["start_time"] and not opts["simulated_clock"]:
            raise CommandError("--start-time only applies with --simulated-clock (the wall clock starts now)")
        start_time_ms = None
        if opts["start_time"]:
            try:
                start_time_ms = iso_to_ms(opts["start_time"])
            except InvalidEvent as exc:
                raise CommandError(f"--start-time: {exc.message}") from None
        try:
            plan = ProducerPlan(
                kind=kind,
                source_ids=source_ids_for(opts["source_prefix"] or kind, opts["sources"]),
                metrics=metrics,
                rate_per_key=opts["rate"],
                seed=opts["seed"],
                count=opts["count"],
                duration_seconds=opts["duration"],
                simulated_clock=opts["simulated_clock"],
                start_time_ms=start_time_ms,
                injection=InjectionRates(
                    duplicate=opts["duplicate_rate"], out_of_order=opts["out_of_order_rate"],
                    late=opts["late_rate"], malformed=opts["malformed_rate"],
                ),
                progress_interval_seconds=opts["progress_interval"],
                # a clean drain waits for every retry still allowed by the delivery timeout
                flush_timeout_seconds=opts["delivery_timeout"] + 10.0,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        bootstrap = opts["bootstrap_servers"] or settings.KAFKA_BOOTSTRAP_SERVERS
        topic = opts["topic"] or settings.KAFKA_EVENTS_TOPIC
        if not opts["no_register"]:
            try:
                registered = sources_register(source_ids=plan.source_ids, source_type=kind)
            except DatabaseError as exc:
                raise CommandError(f"could not register the sources in Postgres: {exc}") from exc
            self.stderr.write(f"run_producer[{kind}] registered {registered} source(s) as {kind!r} in source_metadata")

        sink = KeyedProducer(producer_config(bootstrap, delivery_timeout_seconds=opts["delivery_timeout"]), topic)
        control = None
        if kind == "drift":
            control_topic = opts["control_topic"] or settings.KAFKA_CONTROL_TOPIC
            try:
                control = ControlListener(
                    bootstrap, control_topic,
                    on_invalid=lambda raw, reason: self.stderr.write(f"run_producer[drift] invalid control message: {reason}"),
                )
            except KafkaSetupError as exc:
                raise CommandError(str(exc)) from exc
            self.stderr.write(f"run_producer[drift] following {control_topic} (group {control.group_id})")

        request = StopRequest()
        try:
            with stop_on_signals(request):
                summary = ProducerRun(plan, sink=sink, control=control, stop=request.event, say=self.stderr.write).run()
        finally:
            if control is not None:
                control.close()
        summary["backpressure_seconds"] = round(sink.backpressure_seconds, 3)
        self.stdout.write(json.dumps(summary, sort_keys=True))
        if summary["delivery_errors"] or summary["undelivered"]:
            detail = f" (first: {sink.first_error})" if sink.first_error else ""
            raise CommandError(
                f"{summary['delivery_errors']} message(s) failed and {summary['undelivered']} were not acknowledged{detail}"
            )
