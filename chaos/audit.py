"""``python -m chaos.audit``: one JSON line of what the run's chDB directory holds.

Run as its own process with the run's environment (CLICKHOUSE_URL of a stopped stack): chDB
allows one process per directory, so the harness never opens a stack's directory itself.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")


def main() -> None:
    import django

    django.setup()
    from django.conf import settings

    from detection.clickhouse.audit import drift_transitions, raw_event_audit
    from detection.clickhouse.client import get_client

    client = get_client()
    database = settings.CLICKHOUSE_DATABASE
    print(json.dumps({"raw": raw_event_audit(client, database=database),
                      "transitions": drift_transitions(client, database=database)}))


if __name__ == "__main__":
    main()
