"""Fold new raw events into the baselines by hand: the same function the Airflow DAG runs."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from detection.baselines.fold import baseline_fold


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--until {text!r}: not an ISO-8601 time ({exc})") from exc
    if value.tzinfo is None:
        raise CommandError(f"--until {text!r}: give an offset, e.g. 2024-01-01T12:00:00Z")
    return value


class Command(BaseCommand):
    help = (
        "Fold raw events ingested up to UNTIL minus the safety lag into baseline_stats (Chan merge; "
        "each distinct event counted once; re-running an interval changes nothing). "
        "--rebuild recomputes every baseline from all raw events and replaces the stored ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("--until", help="ISO-8601 time with offset (default: now)")
        parser.add_argument(
            "--safety-lag-seconds", type=float, default=None,
            help="fold only rows ingested this long before UNTIL (default: BASELINE_SAFETY_LAG_SECONDS)",
        )
        parser.add_argument("--rebuild", action="store_true", help="recompute from all raw events, atomically")

    def handle(self, *args, until=None, safety_lag_seconds=None, rebuild=False, **options):
        until_time = _aware_datetime(until) if until else timezone.now()
        try:
            result = baseline_fold(until=until_time, safety_lag_seconds=safety_lag_seconds, rebuild=rebuild)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"update_baselines: {result.summary()}")
