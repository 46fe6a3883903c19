"""Airflow schedules the embedded baseline fold, for real (run by `make test-airflow`).

Real processes: Kafka broker and PostgreSQL (scripts/services), ``run_stack`` owning a chDB
directory of its own with BASELINE_FOLD_VIA=endpoint, a producer, and Airflow's api-server,
scheduler and DAG processor started by ``scripts/airflow up`` with a metadata database of their
own. The DAG runs every DAG_INTERVAL seconds on its own schedule; nothing triggers it by hand.

Asserted: the DAG runs succeed and move the baselines; every baseline version names the run that
wrote it; each run's XCom matches what it wrote; and the exactly-once check of the fold: after
everything stopped, every key's stored count and mean equal a recomputation over the distinct
raw events up to the high-water mark (no event counted twice, none lost). One attempt is made to
fail after its fold completed (its answer times out while a held row lock delays the fold): the
retry counts nothing again.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from config_app.models import BaselineFoldState, BaselineHistory, BaselineStats
from driftsite.polling import wait_until
from tests.support.ports import free_port, listening
from tests.support.stack_env import create_stack_topics, database_url, delete_stack_topics

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
DAG_INTERVAL = 10  # seconds between scheduled DAG runs (BASELINE_INTERVAL_SECONDS)
FOLD_TIMEOUT = 5  # the task's wait for run_stack's answer (BASELINE_FOLD_TIMEOUT_SECONDS)

pytestmark = [pytest.mark.airflow_scheduler, pytest.mark.django_db(transaction=True)]

RUNS_SQL = """
SELECT r.run_id, r.run_type, r.state, ti.state, ti.try_number, x.value
FROM dag_run AS r
LEFT JOIN task_instance AS ti
       ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id AND ti.task_id = 'fold_raw_events'
LEFT JOIN xcom AS x
       ON x.dag_id = r.dag_id AND x.run_id = r.run_id AND x.task_id = 'fold_raw_events' AND x.key = 'return_value'
WHERE r.dag_id = 'baseline_update'
ORDER BY r.id
"""

# Run in a subprocess after run_stack exited: the chDB directory is free again, and this test
# process may hold the test session's own chDB (one directory per process at a time).
RECOMPUTE = """
import json, sys
from detection.clickhouse.aggregates import slice_moments
from detection.clickhouse.client import create_client
client = create_client(sys.argv[1])
rows = slice_moments(client, database=sys.argv[2], after_ms=None, until_ms=int(sys.argv[3]))
print(json.dumps({f"{r.source_id}|{r.metric}": [r.count, r.mean] for r in rows}))
"""


class Runs:
    """The DAG's runs as Airflow's metadata database records them."""

    def __init__(self, conninfo: dict):
        self.conninfo = conninfo

    def all(self) -> list[dict]:
        try:
            with psycopg.connect(**self.conninfo, connect_timeout=5) as conn:
                rows = conn.execute(RUNS_SQL).fetchall()
        except psycopg.Error:
            return []  # not migrated yet
        return [
            {"run_id": run_id, "run_type": run_type, "state": state, "ti_state": ti_state, "try_number": tries,
             "xcom": value if not isinstance(value, (str, bytes)) else json.loads(value)}
            for run_id, run_type, state, ti_state, tries, value in rows
        ]

    def succeeded(self) -> list[dict]:
        return [run for run in self.all() if run["state"] == "success"]

    def folding(self, *, at_least: int) -> list[dict] | None:
        """The successful runs that folded events, once there are ``at_least`` of them."""
        found = [run for run in self.succeeded() if run["xcom"] and run["xcom"]["events_folded"] > 0]
        return found if len(found) >= at_least else None

    def settled(self) -> bool:
        """No run queued or running (after the DAG is paused, none starts)."""
        return all(run["state"] in ("success", "failed") for run in self.all())


@pytest.fixture
def env(tmp_path, kafka_bootstrap):
    suffix, topics = create_stack_topics(kafka_bootstrap, "e2e.af")
    internal_port = free_port()
    values = {
        **os.environ,
        **topics,
        "DJANGO_SETTINGS_MODULE": "driftsite.settings",
        "DATABASE_URL": database_url(),
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_DETECTOR_GROUP": f"e2e-af-detector-{suffix}",
        "KAFKA_INGEST_GROUP": f"e2e-af-ingest-{suffix}",
        "DETECTOR_METRICS_PORT": "0",
        # the fold: scheduled by Airflow, run by run_stack behind its internal endpoint
        "BASELINE_FOLD_VIA": "endpoint",
        "BASELINE_INTERVAL_SECONDS": str(DAG_INTERVAL),
        "BASELINE_FOLD_TIMEOUT_SECONDS": str(FOLD_TIMEOUT),
        "INTERNAL_API_HOST": "127.0.0.1",
        "INTERNAL_API_PORT": str(internal_port),
        "INTERNAL_API_URL": f"http://127.0.0.1:{internal_port}",
        "INTERNAL_API_TOKEN": secrets.token_urlsafe(24),
        # Airflow: a home, ports and a metadata database of its own
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW_PORT": str(free_port()),
        "AIRFLOW_LOG_PORT": str(free_port()),
        "AIRFLOW_DB": f"test_airflow_{suffix}",
        "AIRFLOW_LOG_DIR": str(tmp_path / "logs"),
        "PG_PORT": str(settings.DATABASES["default"]["PORT"]),
    }
    yield values
    delete_stack_topics(kafka_bootstrap, topics)


@pytest.fixture
def processes(env, tmp_path):
    """Starts and always stops what the test starts: run_stack, a producer, Airflow."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    started: dict[str, subprocess.Popen] = {}
    airflow = {"up": False}

    def start(name: str, *args: str) -> subprocess.Popen:
        started[name] = subprocess.Popen([PYTHON, "manage.py", *args], cwd=ROOT, env=env,
                                         stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)
        return started[name]

    def airflow_up() -> float:
        began = time.monotonic()
        airflow["up"] = True
        out = subprocess.run([str(ROOT / "scripts" / "airflow"), "up"], env=env, capture_output=True, text=True,
                             timeout=400)
        print(out.stdout, out.stderr, sep="\n")
        assert out.returncode == 0, out.stderr
        return time.monotonic() - began

    def stop(name: str) -> int | None:
        proc = started.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        return proc.returncode if proc is not None else None

    def airflow_cli(*args: str) -> None:
        out = subprocess.run([str(ROOT / "scripts" / "airflow"), "cli", *args], env=env, capture_output=True,
                             text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr

    def airflow_down() -> None:
        if airflow["up"]:
            subprocess.run([str(ROOT / "scripts" / "airflow"), "down"], env=env, timeout=120, check=False)
            airflow["up"] = False

    yield {"start": start, "stop": stop, "airflow_up": airflow_up, "airflow_cli": airflow_cli,
           "airflow_down": airflow_down, "logs": logs}
    airflow_down()
    for name in list(started):
        stop(name)
    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{env["AIRFLOW_DB"]}" WITH (FORCE)')


def test_airflow_schedules_the_fold_through_run_stack_and_counts_each_event_once(env, processes):
    db = settings.DATABASES["default"]
    runs = Runs({"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"],
                 "dbname": env["AIRFLOW_DB"]})
    stack = processes["start"]("run_stack", "run_stack", "--no-api")
    wait_until(lambda: stack.poll() is not None or listening(int(env["INTERNAL_API_PORT"])), timeout=120,
               what="run_stack's fold endpoint")
    assert stack.poll() is None, (processes["logs"] / "run_stack.log").read_text()
    producer = processes["start"]("producer", "run_producer", "--kind", "stable", "--sources", "2", "--rate", "5",
                                  "--duration", "900")

    airflow_start_seconds = processes["airflow_up"]()

    # 1. The scheduler runs the DAG on its own schedule; two runs fold events.
    folding = wait_until(lambda: runs.folding(at_least=2), timeout=300, interval=1,
                         what="two scheduled DAG runs that fold events")
    assert all(r["run_type"] == "scheduled" for r in folding)

    # 2. One attempt fails after its fold completed: while this session holds the fold-state row
    #    lock, run_stack's fold waits, the task's FOLD_TIMEOUT runs out and it fails; the lock is
    #    released, the fold commits, and Airflow's retry must not count those events again.
    holder = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                             dbname=db["NAME"])
    try:
        holder.execute("SELECT high_water_mark FROM baseline_fold_state WHERE id = 1 FOR UPDATE")
        failed = wait_until(lambda: next((r for r in runs.all() if r["ti_state"] == "up_for_retry"), None),
                            timeout=180, interval=0.5, what="a task attempt to fail and wait for its retry")
    finally:
        holder.rollback()
        holder.close()
    retried = wait_until(lambda: next((r for r in runs.succeeded() if r["run_id"] == failed["run_id"]), None),
                         timeout=180, interval=1, what="the retried run to succeed")
    assert retried["try_number"] == 2
    assert retried["xcom"]["result"] == "already_folded" and retried["xcom"]["replayed"] is True
    assert retried["xcom"]["events_folded"] > 0  # what its first attempt folded, reported once

    # 3. The schedule goes on after the retry.
    wait_until(lambda: any(r["run_id"] > retried["run_id"] for r in runs.succeeded()), timeout=180, interval=1,
               what="a scheduled run after the retried one")

    # Pause the DAG and let the run in flight finish, so every fold belongs to a finished run.
    processes["airflow_cli"]("dags", "pause", "baseline_update")
    wait_until(runs.settled, timeout=180, interval=1, what="the last DAG run to finish")
    assert processes["stop"]("producer") in (0, -signal.SIGTERM)
    processes["airflow_down"]()
    assert processes["stop"]("run_stack") == 0
    assert producer.returncode is not None

    all_runs = runs.all()
    assert all(r["state"] == "success" for r in all_runs), all_runs
    done = [r for r in all_runs if r["state"] == "success"]

    # Each run's XCom matches the baseline versions it wrote; every version names its run.
    history = list(BaselineHistory.objects.values_list("run_id", "events", "baseline__source_id", "baseline__metric"))
    assert history and all(run_id for run_id, *_ in history)
    by_run: dict[str, int] = {}
    for run_id, events, *_ in history:
        by_run[run_id] = by_run.get(run_id, 0) + events
    assert {r["run_id"]: r["xcom"]["events_folded"] for r in done if r["xcom"]["events_folded"]} == by_run

    # The baselines moved: every key has versions from several DAG runs.
    keys = {(s, m) for _, _, s, m in history}
    assert len(keys) == 4  # 2 sources x 2 metrics
    for key in keys:
        assert len({run_id for run_id, _, s, m in history if (s, m) == key}) >= 2, key

    # Exactly once: stored count and mean per key == a recomputation over the distinct raw events.
    hwm = BaselineFoldState.objects.get().high_water_mark
    hwm_ms = int(hwm.timestamp() * 1000)
    out = subprocess.run([PYTHON, "-c", RECOMPUTE, env["CLICKHOUSE_URL"], settings.CLICKHOUSE_DATABASE, str(hwm_ms)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    recomputed = json.loads(out.stdout.strip().splitlines()[-1])
    stored = {f"{b.source_id}|{b.metric}": [b.count, b.mean] for b in BaselineStats.objects.all()}
    assert stored.keys() == recomputed.keys()
    for key, (count, mean) in recomputed.items():
        assert stored[key][0] == count, key
        assert stored[key][1] == pytest.approx(mean, rel=1e-9), key
    folded = sum(r["xcom"]["events_folded"] for r in done)
    distinct = sum(count for count, _ in recomputed.values())
    assert folded == distinct == sum(count for count, _ in stored.values())

    print("airflow e2e: " + json.dumps({
        "airflow_start_seconds": round(airflow_start_seconds, 1), "dag_runs_succeeded": len(done),
        "dag_runs_folding_events": len(by_run), "events_folded": folded, "distinct_events": distinct,
        "duplicates": folded - distinct, "retried_run": retried["run_id"],
        "retried_run_events": retried["xcom"]["events_folded"]}))
