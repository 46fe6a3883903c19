#!/usr/bin/env python
"""`make demo`: the whole system end to end on the embedded default, with a detection report.

Assumes the services are up and Postgres/ClickHouse are migrated and seeded (the make target
does that first). Then, as separate processes:

1. ``manage.py run_stack`` (ingest + detector + baseline refresher + API/dashboard; owns chDB);
2. a back-fill: the three producers with a simulated clock write the last BACKFILL minutes of
   history, which the stack ingests and folds into baselines (so detection can start at once);
3. the live producers (stable, dynamic, drift) for DEMO_SECONDS, and ``drift_controller
   --scenario demo``, whose ground truth is recorded in Postgres;
4. transitions are printed as the detector writes them (read from the stack's API,
   ``/drift/events``, i.e. from ClickHouse ``drift_events``); at the end the producers stop, the
   detector catches up, the stack stops (draining and committing), and
   ``manage.py detection_report`` compares the transitions with the ground truth. Its last line
   is the JSON totals.
5. alerting: when the Alertmanager of ``scripts/services`` answers on ALERTMANAGER_PORT (and
   ALERTMANAGER_URL is not set otherwise), run_stack's notifier pushes drift alerts to it, and
   this script runs the webhook receiver Alertmanager notifies (ALERT_WEBHOOK_PORT). Before
   stopping, it waits until every alert that fired was also resolved; the report adds
   alerts_fired / alerts_resolved (distinct alert instances the receiver got) and false_alerts
   (fired alerts of keys without an injected drift).

With ``--airflow`` (``make demo AIRFLOW=1``) Airflow is the fold's scheduler instead of
run_stack's timer: ``scripts/airflow up`` starts its api-server, scheduler and DAG processor (in
parallel with the back-fill), the DAG ``baseline_update`` runs every minute
(BASELINE_INTERVAL_SECONDS=60) and asks run_stack to fold through its internal endpoint
(BASELINE_FOLD_VIA=endpoint, a fresh INTERNAL_API_TOKEN unless one is set). The report then
says how many DAG runs folded how many events (from Airflow's metadata database: the runs'
state and XCom), and the JSON line gains ``airflow_dag_runs`` and ``airflow_events_folded``.
Airflow is stopped at the end if the demo started it.

Environment: DEMO_METHOD (cusum, the default, or zscore: the method `make demo` seeds the default
threshold row with; reported on the last line), DEMO_SECONDS (default 180), DEMO_KEEP=1 to keep
everything running until Ctrl-C, API_PORT (default 8000), AIRFLOW=1 (same as --airflow),
ALERTMANAGER_PORT (9095), ALERT_WEBHOOK_PORT (9096), and every setting of driftsite/settings.py
and scripts/airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


sys.path.insert(0, str(ROOT))
from detection.core.events import ms_to_iso  # noqa: E402
from driftsite.polling import wait_until  # noqa: E402


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def manage(*args: str, env: dict, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=check,
                          capture_output=capture, text=True)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


def group_caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether the consumer group has committed every message of the topic."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = consumer.committed(tps, timeout=10)
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            position = tp.offset if tp.offset >= 0 else low
            if position < high:
                return False
        return True
    finally:
        consumer.close()


def _two_decimals(value: float | None) -> str:
    """A score as the detector logs it (%.2f); the API renders NaN and infinities as null."""
    return "n/a" if value is None else f"{value:.2f}"


def start_alerting(env: dict):
    """Point run_stack at the local Alertmanager and start the webhook receiver, if it runs."""
    from detection.alerting.receiver import WebhookReceiver

    if not env.get("ALERTMANAGER_URL"):
        local = f"http://127.0.0.1:{env.get('ALERTMANAGER_PORT', '9095')}"
        if not http_ok(f"{local}/-/ready"):
            say(f"no Alertmanager at {local}: alerting is off (scripts/services up builds it when Go is installed)")
            return None
        env["ALERTMANAGER_URL"] = local
    env.setdefault("ALERT_RESEND_SECONDS", "10")
    env.setdefault("ALERT_EVALUATION_SECONDS", "1")
    return WebhookReceiver(port=int(env.get("ALERT_WEBHOOK_PORT", "9096"))).start()


class Demo:
    """The demo's processes; every step is a method so the e2e test can drive the same code."""

    def __init__(self, *, env: dict, seconds: float, time_scale: float, port: int, logs: Path,
                 backfill_seconds: float = 600.0, rate: float = 5.0, sources: int = 5, airflow: bool = False, receiver=None) -> None:
        self.airflow = airflow
        self.airflow_started = False  # by this demo (then it stops it too)
        self.airflow_starting: subprocess.Popen | None = None
        self.airflow_start_seconds = 0.0
        if airflow:
            env = {**env, "BASELINE_FOLD_VIA": "endpoint", "BASELINE_INTERVAL_SECONDS": env.get("BASELINE_INTERVAL_SECONDS", "60")}
            env.setdefault("INTERNAL_API_TOKEN", secrets.token_urlsafe(32))
            port_ = env.get("INTERNAL_API_PORT", "8001")
            env.setdefault("INTERNAL_API_URL", f"http://127.0.0.1:{port_}")
        self.env = env
        self.seconds = seconds
        self.time_scale = time_scale
        self.port = port
        self.logs = logs
        self.backfill_seconds = backfill_seconds
        self.rate = rate
        self.sources = sources
        self.stack: subprocess.Popen | None = None
        self.producers: dict[str, subprocess.Popen] = {}
        self.controller: subprocess.Popen | None = None
        self.events_produced = 0  # live events (the report's range)
        self._delivered: dict[str, int] = {}  # per live producer, once it has exited
        self.events_backfilled = 0
        self.live_since: str | None = None
        self.stack_started: datetime | None = None
        self._seen_transitions: set[str] = set()  # drift_event_id
        self._api_failing = False
        self.transitions: list[tuple[str, ...]] = []
        self.receiver = receiver  # a WebhookReceiver when alerting is on
        logs.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def setting(self, name: str, default: str) -> str:
        return self.env.get(name, default)

    # -- steps -----------------------------------------------------------------------------
    def start_stack(self) -> None:
        log = self.logs / "demo-stack.log"
        log.write_text("")
        self.stack_started = datetime.now(UTC)
        say(f"starting run_stack (log {log})")
        self.stack = subprocess.Popen(
            [PYTHON, "manage.py", "run_stack", "--port", str(self.port), "--baseline-interval", "5"],
            cwd=ROOT, env=self.env, stdout=log.open("a"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self.stack.poll() is not None or http_ok(f"{self.base_url}/health"), timeout=120,
                 what="the API to answer /health")
        if self.stack.poll() is not None:
            raise SystemExit(f"demo: run_stack exited with {self.stack.returncode}; see {log}")
        say(f"dashboard {self.base_url}/dashboard/   API {self.base_url}/drift/status   admin {self.base_url}/admin/")
        if self.receiver is not None:
            say(f"alerts -> Alertmanager {self.env['ALERTMANAGER_URL']} -> webhook {self.receiver.url}; "
                f"per-key gauges: {self.base_url}/metrics")

    # -- Airflow (--airflow) ----------------------------------------------------------------
    def _airflow(self, *args: str, capture: bool = True, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "scripts" / "airflow"), *args], cwd=ROOT, env=self.env,
                              capture_output=capture, text=True, check=check)

    def start_airflow(self) -> None:
        """Start Airflow in the background (it takes a while); :meth:`wait_airflow` joins it."""
        self.airflow_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # runs counted from here
        if self._airflow("status").returncode == 0:
            if "INTERNAL_API_TOKEN" not in os.environ:
                raise SystemExit("demo: Airflow is already running, with a token this demo cannot know; stop it "
                                 "(scripts/services down airflow) or set INTERNAL_API_TOKEN for both")
            say("Airflow already running: it schedules the fold (the demo leaves it running)")
            return
        say("starting Airflow (api-server, scheduler, DAG processor; log .logs/demo-airflow.log)")
        self.airflow_started = True
        self._airflow_began = time.monotonic()
        self.airflow_starting = subprocess.Popen(
            [str(ROOT / "scripts" / "airflow"), "up"], cwd=ROOT, env=self.env,
            stdout=(self.logs / "demo-airflow.log").open("w"), stderr=subprocess.STDOUT)

    def wait_airflow(self) -> None:
        if self.airflow_starting is None:
            return
        code = self.airflow_starting.wait(timeout=600)
        self.airflow_start_seconds = time.monotonic() - self._airflow_began
        self.airflow_starting = None
        for line in (self.logs / "demo-airflow.log").read_text().splitlines():
            if line.startswith("airflow:"):
                say(line)
        if code != 0:
            raise SystemExit(f"demo: scripts/airflow up failed ({code}); see {self.logs}/demo-airflow.log")
        say(f"Airflow up after {self.airflow_start_seconds:.0f} s; DAG baseline_update folds every "
            f"{float(self.env['BASELINE_INTERVAL_SECONDS']):g} s through run_stack's endpoint")

    def stop_airflow(self) -> None:
        if self.airflow_starting is not None and self.airflow_starting.poll() is None:
            self.airflow_starting.wait(timeout=600)
        if self.airflow_started:
            say("stopping Airflow")
            self._airflow("down")
            self.airflow_started = False

    def airflow_runs(self) -> list[dict]:
        """This demo's runs of baseline_update, from Airflow's metadata database (state + XCom)."""
        import psycopg

        port = self.env.get("PG_PORT", "5432")
        database = self.env.get("AIRFLOW_DB", "airflow")
        with psycopg.connect(host="127.0.0.1", port=port, user="drift", password="drift", dbname=database,
                             connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT r.run_id, r.state, x.value FROM dag_run AS r LEFT JOIN xcom AS x ON x.dag_id = r.dag_id "
                "AND x.run_id = r.run_id AND x.task_id = 'fold_raw_events' AND x.key = 'return_value' "
                "WHERE r.dag_id = 'baseline_update' AND r.start_date >= %s ORDER BY r.id",
                (self.airflow_since,),
            ).fetchall()
        return [{"run_id": run_id, "state": state, "xcom": value if not isinstance(value, str) else json.loads(value)}
                for run_id, state, value in rows]

    def _producer_args(self, kind: str) -> list[str]:
        return ["run_producer", "--kind", kind, "--sources", str(self.sources), "--rate", str(self.rate),
                "--progress-interval", "30"]

    def backfill(self) -> None:
        say(f"back-filling {self.backfill_seconds:.0f} s of history for stable, dynamic and drift sources")
        for kind in ("stable", "dynamic", "drift"):
            out = manage(*self._producer_args(kind), "--simulated-clock", "--duration", str(self.backfill_seconds),
                         env=self.env, capture=True)
            self.events_backfilled += json.loads(out.stdout.strip().splitlines()[-1])["delivered"]
        topic = self.setting("KAFKA_EVENTS_TOPIC", "telemetry.events")
        bootstrap = self.setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        group = self.setting("KAFKA_INGEST_GROUP", "raw-events-ingest")
        wait_until(lambda: group_caught_up(bootstrap, group, topic), timeout=300, what="raw events to be ingested")
        if self.airflow:
            self.wait_airflow()
            say("history ingested; waiting for a DAG run of baseline_update to fold it")
        else:
            say("history ingested; waiting for the first baselines")
        expected = 3 * self.sources * 2

        def baselines_ready():
            out = manage("shell", "-c", "from config_app.models import BaselineStats as B; "
                         "print(B.objects.filter(count__gte=100).count())", env=self.env, capture=True, check=False)
            return out.returncode == 0 and int((out.stdout.strip() or "0").splitlines()[-1]) >= expected

        wait_until(baselines_ready, timeout=300 if self.airflow else 180, what="baselines", interval=2.0)
        say("baselines folded")

    def start_live(self) -> None:
        self.live_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for kind in ("stable", "dynamic", "drift"):
            self.producers[kind] = subprocess.Popen(
                [PYTHON, "manage.py", *self._producer_args(kind), "--duration", str(self.seconds)],
                cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=(self.logs / f"demo-producer-{kind}.log").open("w"),
                text=True,
            )
        # Every key evaluated (not INITIALIZING) means the detector has loaded the baselines and
        # the producers are producing (the drift producer listens to the control topic from its
        # start), so the scenario can begin.
        expected = 3 * self.sources * 2

        ours = tuple(f"{kind}-" for kind in ("stable", "dynamic", "drift"))

        def all_keys_evaluated():
            try:
                body = json.loads(urllib.request.urlopen(
                    f"{self.base_url}/drift/status?state=INITIALIZING&limit=1000", timeout=5).read())
            except Exception:
                return False
            waiting = [r for r in body["results"] if r["source_id"].startswith(ours)]
            counts = body["state_counts"]
            return not waiting and counts["NORMAL"] + counts["DRIFTING"] >= expected

        wait_until(all_keys_evaluated, timeout=120, interval=0.5, what="every key to be evaluated")
        say(f"live producers running for {self.seconds:.0f} s; starting drift_controller --scenario demo "
            f"(time scale {self.time_scale:g})")
        self.controller = subprocess.Popen(
            [PYTHON, "manage.py", "drift_controller", "--scenario", "demo", "--time-scale", str(self.time_scale)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=(self.logs / "demo-controller.log").open("w"),
        )

    def _transitions_since_start(self) -> list[dict]:
        """Every transition the stack detected since it started, oldest event first, from the
        API (``/drift/events``: ClickHouse ``drift_events``), all pages.

        Event times reach back to the back-fill's first (simulated) event, at most
        ``backfill_seconds`` before the stack started; ``detected_at`` (wall clock) leaves out
        the transitions of earlier runs in the same ClickHouse. ``until`` is set a day ahead and
        differs on every call, so the API's short query cache never answers with a result
        older than the call (the read after :meth:`drain` sees every committed write).
        """
        now = datetime.now(UTC)
        since = self.stack_started - timedelta(seconds=self.backfill_seconds + 60)
        query = urllib.parse.urlencode({
            "since": since.isoformat(timespec="milliseconds"),
            "until": (now + timedelta(days=1)).isoformat(timespec="microseconds"),
            "ordering": "event_time", "limit": 500,
        })
        url, rows = f"{self.base_url}/drift/events?{query}", []
        while url:
            with urllib.request.urlopen(url, timeout=10) as response:
                page = json.loads(response.read())
            rows.extend(page["results"])
            url = page["next"]
        return [r for r in rows if datetime.fromisoformat(r["detected_at"].replace("Z", "+00:00")) >= self.stack_started]

    def print_new_transitions(self) -> bool:
        """Print the transitions not printed yet; False if the API could not be read (the next
        call catches up: nothing is lost)."""
        try:
            rows = self._transitions_since_start()
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts; a broken body
            if not self._api_failing:
                say(f"warning: could not read /drift/events ({exc}); retrying")
            self._api_failing = True
            return False
        self._api_failing = False
        for row in rows:
            if row["drift_event_id"] in self._seen_transitions:
                continue
            self._seen_transitions.add(row["drift_event_id"])
            event_time = datetime.fromisoformat(row["event_time"].replace("Z", "+00:00"))
            transition = (row["event_type"], f"{row['source_id']}/{row['metric']}",
                          ms_to_iso(round(event_time.timestamp() * 1000)), _two_decimals(row["z_score"]),
                          _two_decimals(row["std_ratio"]))
            self.transitions.append(transition)
            event_type, key, at, z, ratio = transition
            say(f"{event_type:11} {key:24} at {at}  z={z} ratio={ratio}")
        return True

    def run(self, keep: bool) -> None:
        while True:
            self.print_new_transitions()
            if self.stack.poll() is not None:
                raise SystemExit(f"demo: run_stack died (exit {self.stack.returncode}); see {self.logs}/demo-stack.log")
            producers_done = all(p.poll() is not None for p in self.producers.values())
            if producers_done and self.controller.poll() is not None and not keep:
                break
            time.sleep(0.5)
        for kind, proc in self.producers.items():
            if proc.returncode != 0:
                raise SystemExit(f"demo: producer {kind} failed ({proc.returncode}); see {self.logs}/demo-producer-{kind}.log")
        self.read_producer_counts()
        if self.controller.returncode != 0:
            raise SystemExit(f"demo: drift_controller failed ({self.controller.returncode}); see {self.logs}/demo-controller.log")

    def read_producer_counts(self) -> None:
        """``events_produced``: the sum of what each exited live producer delivered (the JSON on
        its last stdout line; a producer stopped by SIGTERM/SIGINT prints it too). Called when
        they finish and again from :meth:`stop`, so every exit path (Ctrl-C or SIGTERM with
        DEMO_KEEP=1 included) reports the events produced; each producer is read once."""
        for kind, proc in self.producers.items():
            if kind in self._delivered or proc.poll() is None:
                continue
            lines = proc.stdout.read().strip().splitlines()
            try:
                self._delivered[kind] = json.loads(lines[-1])["delivered"]
            except (IndexError, ValueError, KeyError):
                say(f"warning: producer {kind} (exit {proc.returncode}) printed no summary; counted as 0 "
                    f"(see {self.logs}/demo-producer-{kind}.log)")
                self._delivered[kind] = 0
        self.events_produced = sum(self._delivered.values())

    def drain(self) -> None:
        topic = self.setting("KAFKA_EVENTS_TOPIC", "telemetry.events")
        bootstrap = self.setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        group = self.setting("KAFKA_DETECTOR_GROUP", "drift-detector")
        wait_until(lambda: group_caught_up(bootstrap, group, topic), timeout=120, what="the detector to catch up")
        wait_until(self.print_new_transitions, timeout=60, interval=1.0, what="the API to list the transitions")

    def wait_alerts_resolved(self, timeout: float = 90.0) -> None:
        """Until every alert instance that fired was also notified as resolved, unless its key is
        still DRIFTING (the stack's notifier must still run: it sends the resolved alerts)."""
        if self.receiver is None:
            return

        def all_resolved():
            try:  # a key still DRIFTING (its drift did not end before the producers stopped) stays firing
                drifting = {(r["source_id"], r["metric"]) for r in json.loads(urllib.request.urlopen(
                    f"{self.base_url}/drift/status?state=DRIFTING&limit=1000", timeout=5).read())["results"]}
            except Exception:
                return False
            resolved = self.receiver.episodes("resolved")
            return all(e in resolved or e[:2] in drifting for e in self.receiver.episodes("firing"))

        try:
            wait_until(all_resolved, timeout=timeout, interval=0.5, what="every fired alert to be resolved")
        except TimeoutError as exc:
            say(f"warning: {exc}")
        for alert in sorted(self.receiver.alerts(), key=lambda a: a.received_at):
            say(f"alert {alert.status:8} {alert.source_id}/{alert.metric} severity={alert.labels.get('severity')} "
                f"since {alert.starts_at}")

    def alert_totals(self, report: dict) -> dict:
        """alerts_fired, alerts_resolved, false_alerts (None when alerting is off)."""
        if self.receiver is None:
            return {"alerts_fired": None, "alerts_resolved": None, "false_alerts": None}
        return self.receiver.summary((d["source_id"], d["metric"]) for d in report["injected"])

    def stop(self) -> None:
        for proc in [*self.producers.values(), self.controller]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        self.read_producer_counts()
        if self.airflow:
            if self.airflow_starting is not None and self.airflow_starting.poll() is None:
                self.airflow_starting.wait(timeout=600)
            try:
                self.airflow_summary = self._airflow_summary()
            except Exception as exc:  # the report says so; stopping must go on
                say(f"could not read Airflow's runs: {exc}")
            self.stop_airflow()
        if self.stack is not None and self.stack.poll() is None:
            say("stopping run_stack (drains, writes and commits)")
            self.stack.send_signal(signal.SIGTERM)
            self.stack.wait(timeout=120)

    def report(self) -> dict:
        out = manage("detection_report", "--since", self.live_since, "--events-produced", str(self.events_produced),
                     "--json", env=self.env, capture=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        if self.airflow:
            summary = getattr(self, "airflow_summary", None) or {"dag_runs": 0, "events_folded": 0, "failed": 0}
            report["totals"]["airflow_dag_runs"] = summary["dag_runs"]
            report["totals"]["airflow_events_folded"] = summary["events_folded"]
            report["airflow"] = summary
        return report

    def _airflow_summary(self) -> dict:
        runs = self.airflow_runs()
        done = [r for r in runs if r["state"] == "success" and r["xcom"]]
        return {"dag_runs": len(done), "events_folded": sum(r["xcom"]["events_folded"] for r in done),
                "folding_runs": sum(1 for r in done if r["xcom"]["events_folded"]),
                "failed": sum(1 for r in runs if r["state"] == "failed"),
                "start_seconds": round(self.airflow_start_seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the drift-detection demo end to end (embedded mode).")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("DEMO_SECONDS", "180")),
                        help="how long the live producers run (env DEMO_SECONDS, default 180)")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("DEMO_KEEP") == "1",
                        help="keep running until Ctrl-C (env DEMO_KEEP=1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    parser.add_argument("--airflow", action="store_true", default=os.environ.get("AIRFLOW", "") not in ("", "0"),
                        help="Airflow schedules the baseline fold instead of run_stack's timer (env AIRFLOW=1)")
    args = parser.parse_args(argv)
    if args.seconds < 60:
        parser.error(f"DEMO_SECONDS/--seconds must be at least 60 (got {args.seconds:g}): shorter runs squeeze the "
                     "default scenario's drifts below the detection window")
    # The default scenario needs ~150 s (last drift ends at +105 s, detected end ~+140 s):
    # shorter demos run it faster (at 60 s its shortest drift still lasts ~15 s).
    time_scale = min(1.0, args.seconds / 180.0)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "driftsite.settings"}
    env.setdefault("CONFIG_REFRESH_SECONDS", "5")
    receiver = start_alerting(env)
    demo = Demo(env=env, seconds=args.seconds, time_scale=time_scale, port=args.port, logs=ROOT / ".logs",
                airflow=args.airflow, receiver=receiver)
    started = time.monotonic()
    interrupted = failed = False

    def on_signal(signum, frame):
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.airflow:
            demo.start_airflow()
        demo.start_stack()
        demo.backfill()
        demo.start_live()
        demo.run(keep=args.keep)
        demo.drain()
        demo.wait_alerts_resolved()
    except KeyboardInterrupt:
        say("interrupted: stopping")
        interrupted = True
    except TimeoutError as exc:
        say(f"failed: {exc}; logs in {ROOT / '.logs'}")
        failed = True
    finally:
        demo.stop()
        if receiver is not None:
            receiver.stop()
    if failed:
        return 1
    if interrupted and not args.keep:
        return 130
    report = demo.report()
    from detection.evaluation import format_report

    say(f"detection report ({time.monotonic() - started:.0f} s wall time)")
    for line in format_report(report):
        print(line)
    if args.airflow:
        af = report["airflow"]
        print(f"airflow: {af['dag_runs']} DAG runs of baseline_update succeeded ({af['folding_runs']} folded new "
              f"events), {af['events_folded']} events folded in all, {af['failed']} failed runs; Airflow start-up "
              f"{af['start_seconds']:.0f} s")
    totals = {**report["totals"], **demo.alert_totals(report), "method": os.environ.get("DEMO_METHOD", "cusum")}
    if receiver is not None:
        print(f"alerts (webhook receiver): fired {totals['alerts_fired']} resolved {totals['alerts_resolved']} "
              f"false {totals['false_alerts']}")
    else:
        print("alerts: off (no Alertmanager; install Go and run scripts/services up)")
    print(json.dumps(totals), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
