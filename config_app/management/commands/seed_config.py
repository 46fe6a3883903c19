"""Load the demo configuration idempotently (a second run changes nothing)."""

from django.core.management.base import BaseCommand, CommandError

from config_app.selectors import config_version_get
from config_app.services.thresholds import DEMO_THRESHOLDS, NEW_INSTALL_METHOD, demo_thresholds_seed


class Command(BaseCommand):
    help = (
        "Seed the default (demo) metric thresholds. Safe to run any number of times. A new install gets "
        f"method={NEW_INSTALL_METHOD}; an existing default row keeps its method unless --method is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--method", choices=sorted(DEMO_THRESHOLDS), help="detection method of the default row")

    def handle(self, *args, method=None, **options):
        try:
            row, changed = demo_thresholds_seed(method=method)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created/updated" if changed else "unchanged"
        self.stdout.write(f"seed_config: default thresholds {verb} ({row}); config version {config_version_get()}")
