"""django_setup() for callers outside manage.py (the Airflow task, benchmarks)."""

import os


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
    import django

    django.setup()
