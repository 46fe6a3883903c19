"""The baseline_update DAG: it loads, is shaped as documented, and folds for real under dag.test()."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config_app.models import BaselineFoldState, BaselineHistory, BaselineStats

DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    # Airflow 3.3 dropped include_examples: examples are off through AIRFLOW__CORE__LOAD_EXAMPLES.
    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_folder_imports_without_errors(airflow_db):
    bag = _dag_bag()
    assert bag.import_errors == {}
    dag = bag.dags["baseline_update"]
    assert [t.task_id for t in dag.tasks] == ["fold_raw_events"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.default_args["retries"] >= 1
    assert "baselines" in dag.tags and dag.doc_md
    assert dag.schedule == timedelta(seconds=float(os.environ.get("BASELINE_INTERVAL_SECONDS", "60")))
    assert dag.start_date == T0


@pytest.mark.django_db(transaction=True)
def test_dag_run_folds_raw_events_into_the_test_databases(airflow_db, clickhouse, settings):
    """dag.test() runs the task in this process: it must use the test Postgres and this session's chDB."""
    until = T0 + timedelta(hours=1)
    rows = [
        [1, "host-1", "cpu", 1.0, T0, until - timedelta(minutes=1)],
        [2, "host-1", "cpu", 3.0, T0, until - timedelta(minutes=1)],
        [2, "host-1", "cpu", 3.0, T0, until - timedelta(seconds=30)],  # a duplicate
        [3, "host-1", "cpu", 9.0, T0, until],  # inside the safety lag: left for the next run
    ]
    clickhouse.insert(
        f"{settings.CLICKHOUSE_DATABASE}.raw_events", rows,
        column_names=["event_id", "source_id", "metric", "value", "event_time", "ingest_time"],
    )
    settings.BASELINE_FOLD_VIA = "direct"  # server mode: the task folds in its own process
    dag = _dag_bag().get_dag("baseline_update")

    run = dag.test(logical_date=until)

    assert run.state == "success"
    assert run.data_interval_end == until
    row = BaselineStats.objects.get(source_id="host-1", metric="cpu")
    assert (row.count, row.mean, row.std) == (2, 2.0, pytest.approx(2 ** 0.5))
    lag = timedelta(seconds=settings.BASELINE_SAFETY_LAG_SECONDS)
    assert BaselineFoldState.objects.get().high_water_mark == until - lag
    assert list(BaselineHistory.objects.values_list("run_id", flat=True)) == [run.run_id]

    # the same run again (a retry, a cleared task) changes nothing
    assert dag.test(logical_date=until).state == "success"
    assert BaselineStats.objects.get(pk=row.pk).count == 2

