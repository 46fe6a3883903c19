"""Load the demo configuration idempotently (a second run changes nothing)."""

from django.core.management.base import BaseCommand

from config_app.selectors import config_version_get
from config_app.services.thresholds import DEMO_DEFAULT, DEMO_OPTIONS, threshold_upsert


class Command(BaseCommand):
    help = "Seed the default (demo) metric thresholds. Safe to run any number of times."

    def handle(self, *args, **options):
        row, changed = threshold_upsert(**DEMO_DEFAULT, **DEMO_OPTIONS)
        verb = "created/updated" if changed else "unchanged"
        self.stdout.write(f"seed_config: default thresholds {verb} ({row}); config version {config_version_get()}")
