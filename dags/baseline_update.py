"""Fold new raw events into the long-term baselines (Postgres `baseline_stats`).

Every `BASELINE_INTERVAL_SECONDS` (default 60) one task calls
`config_app.services.baselines.baseline_fold(until=data_interval_end)`: raw events ingested
since the stored high-water mark (up to `until` minus `BASELINE_SAFETY_LAG_SECONDS`) are
deduplicated and aggregated per key in ClickHouse and Chan-merged into `baseline_stats`; the new
high-water mark is committed in the same transaction. Re-running or clearing a run changes
nothing; an overlapping run waits on a row lock. All logic lives in that function (also used by
`manage.py update_baselines` and the embedded stack); this file only schedules it.

The interval is read from the environment here (not from Django settings) to keep parsing cheap.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task


@dag(
    dag_id="baseline_update",
    schedule=timedelta(seconds=float(os.environ.get("BASELINE_INTERVAL_SECONDS", "60"))),
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=20)},
    tags=["drift", "baselines"],
    doc_md=__doc__,
)
def baseline_update():
    @task
    def fold_raw_events(data_interval_end=None, dag_run=None) -> dict:
        import sys
        from pathlib import Path

        project = str(Path(__file__).resolve().parents[1])  # dags/ sits in the project root
        if project not in sys.path:
            sys.path.append(project)
        from driftsite.bootstrap import django_setup

        django_setup()
        from config_app.services.baselines import baseline_fold

        # A manual run without a logical date has no data interval: fold up to when it was due.
        result = baseline_fold(until=data_interval_end or dag_run.run_after)
        return {"keys_updated": result.keys_updated, "events_folded": result.events_folded,
                "high_water_mark": result.high_water_mark.isoformat() if result.high_water_mark else None}

    fold_raw_events()


baseline_update()
