"""Detection report for a time range: every injected drift (detected? delay) and false start."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from django.core.management.base import BaseCommand, CommandError

from detection.evaluation import format_report
from detection.report import detection_report


def parse_time(text: str) -> datetime:
    """ISO-8601 with an offset, or a relative 'NNm'/'NNh'/'NNs' before now."""
    text = text.strip()
    if text and text[-1] in "smh" and text[:-1].replace(".", "", 1).isdigit():
        seconds = float(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]
        return datetime.now(timezone.utc) - timedelta(seconds=seconds)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"not an ISO-8601 time or a relative time like 30m: {text!r}") from None
    if value.tzinfo is None:
        raise CommandError(f"time needs an offset (Z or +hh:mm): {text!r}")
    return value


class Command(BaseCommand):
    help = "Compare drift transitions with the drift controller's ground truth for a time range."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="ISO-8601 with offset, or relative (e.g. 30m)")
        parser.add_argument("--until", default=None, help="ISO-8601 with offset (default: now)")
        parser.add_argument("--grace-seconds", type=float, default=None,
                            help="a DRIFT_START up to this long after a drift's stop still counts (default: longest window)")
        parser.add_argument("--events-produced", type=int, default=None, help="reported as is (from the producers)")
        parser.add_argument("--json", action="store_true", help="only the JSON report")

    def handle(self, *args, **options):
        since = parse_time(options["since"])
        until = parse_time(options["until"]) if options["until"] else datetime.now(timezone.utc)
        try:
            report = detection_report(since=since, until=until, grace_seconds=options["grace_seconds"],
                                      events_produced=options["events_produced"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        data = report.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data))
            return
        for line in format_report(data):
            self.stdout.write(line)
        self.stdout.write(json.dumps(report.totals()))
