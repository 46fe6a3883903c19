"""Fold new raw events into the long-term baselines (Postgres `baseline_stats`).

Every `BASELINE_INTERVAL_SECONDS` (default 60) one task folds the raw events ingested since the
stored high-water mark (up to `data_interval_end` minus `BASELINE_SAFETY_LAG_SECONDS`),
deduplicated and aggregated per key in ClickHouse and Chan-merged into `baseline_stats`; the new
high-water mark is committed in the same transaction, and every baseline version it writes
records this DAG run's id. `BASELINE_FOLD_VIA` chooses where the fold runs:

- `endpoint` (embedded mode): the task asks `run_stack`, which owns chDB, through its internal
  authenticated endpoint (`INTERNAL_API_URL`, `INTERNAL_API_TOKEN`) and waits for the answer;
- `direct` (server mode, and anything else): the task folds itself against ClickHouse.

Both run `detection.baselines.fold.baseline_fold_for_run`. The task returns (XCom) the
result, the counts and the high-water mark; a failure fails the task with the reason. Re-running,
retrying or clearing a run never counts an event twice: a repeated run folds nothing and returns
what the run folded the first time. This file only schedules; the logic lives in
`detection/baselines/endpoint.py` and `config_app/services/baselines.py`.

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
        from detection.baselines.endpoint import fold_for_dag_run

        # A manual run without a logical date has no data interval: fold up to when it was due.
        return fold_for_dag_run(run_id=dag_run.run_id, until=data_interval_end or dag_run.run_after)

    fold_raw_events()


baseline_update()
