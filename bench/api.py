"""Benchmark of the monitoring API under load: ``python -m bench.api``.

What it does, all on 127.0.0.1 and all cleaned up afterwards:

1. creates its own PostgreSQL database (``drift_bench_api`` on the server of DATABASE_URL) and
   migrates it, and its own chDB directory (a temp dir) migrated by ``migrate_clickhouse``'s code;
2. fills ClickHouse: 10,000 keys in drift_status_current (two versions each, in separate parts,
   so FINAL has real work) and 1,000,000 distinct drift events over 30 days (plus 1 % replayed
   duplicates, so de-duplication has real work), then closes its client (chDB: one process per
   directory);
3. starts gunicorn (production server: ``--workers 1 --threads 4``, the chDB constraint) on that
   data, and runs the load tool against
   ``/drift/status?limit=100`` (first page, 10,000 keys) and ``/drift/events?limit=50`` (newest
   page of 1,000,000 events), then a deep ``/drift/events`` page reached by a cursor;
4. prints one JSON object as the LAST line: p50/p99 latency in ms and requests/s per endpoint.

Load tool: ``wrk --latency`` (Debian package ``wrk``) with ``--connections`` connections; without
wrk, a bounded multi-threaded Python client (the JSON names which one ran).
``requests_per_s`` is the throughput over both main runs together (requests / seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from bench.databases import recreate_database

REPO = Path(__file__).resolve().parent.parent
BENCH_DB = "drift_bench_api"


def log(message: str) -> None:
    print(f"[bench_api] {message}", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL -------------------------------------------------------------------------------
def _bench_database_url(base_url: str) -> str:
    parts = urlparse(base_url)
    return urlunparse(parts._replace(path=f"/{BENCH_DB}"))


# --- ClickHouse data ----------------------------------------------------------------------------
def _fill_clickhouse(*, keys: int, events: int, seed: int) -> dict[str, int]:
    """Migrates the bench's chDB directory and fills it (called with Django set up on it)."""
    from django.conf import settings

    from detection.clickhouse.client import close_client, get_client
    from detection.clickhouse.readers import table_row_count
    from detection.clickhouse.tables import DRIFT_EVENT_COLUMNS, DRIFT_STATUS_COLUMNS
    from detection.clickhouse.schema import migrate_from_settings

    rng = random.Random(seed)
    client = get_client()
    migrate_from_settings()
    db = settings.CLICKHOUSE_DATABASE
    t_end = datetime(2024, 6, 1, tzinfo=UTC)
    span_ms = 30 * 86400 * 1000
    sources = [f"source-{i // 10:04d}" for i in range(keys)]
    metrics = [f"metric.{['cpu', 'mem', 'disk', 'net', 'lat'][i % 5]}.{i % 10}" for i in range(keys)]

    started = time.perf_counter()
    states = ("INITIALIZING", "NORMAL", "DRIFTING")
    for generation in (1, 2):  # two versions per key, in separate parts: FINAL must pick the newer
        rows = []
        for i in range(keys):
            last = t_end - timedelta(milliseconds=rng.randrange(3_600_000)) - timedelta(minutes=5 * (2 - generation))
            z = abs(rng.gauss(1, 2))
            rows.append(
                [sources[i], metrics[i], states[rng.choices((0, 1, 2), weights=(5, 80, 15))[0]],
                 last - timedelta(minutes=rng.randrange(600)), last, rng.gauss(10, 2), abs(rng.gauss(1, 0.2)),
                 rng.randrange(10, 500), 10.0, 1.0, z, abs(rng.gauss(1, 0.3)), 1,
                 last + timedelta(seconds=1), int(last.timestamp() * 1000), *_zscore_decision(z)]
            )
        client.insert(f"{db}.drift_status_current", rows, column_names=list(DRIFT_STATUS_COLUMNS))
    status_seconds = time.perf_counter() - started

    started = time.perf_counter()
    batch = 200_000
    replayed: list[list] = []
    for offset in range(0, events, batch):
        n = min(batch, events - offset)
        columns: list[list] = [[] for _ in DRIFT_EVENT_COLUMNS]
        for _ in range(n):
            k = rng.randrange(keys)
            at = t_end - timedelta(milliseconds=rng.randrange(span_ms))
            z = abs(rng.gauss(4, 1))
            row = [rng.getrandbits(64), sources[k], metrics[k], "DRIFT_START" if rng.random() < 0.5 else "DRIFT_END",
                   at, at + timedelta(milliseconds=rng.randrange(50, 2000)), rng.gauss(12, 2), abs(rng.gauss(1.5, 0.3)),
                   rng.randrange(10, 500), 10.0, 1.0, z, abs(rng.gauss(1.5, 0.5)),
                   rng.getrandbits(64), 1, *_zscore_decision(z)]
            for c, value in zip(columns, row):
                c.append(value)
            if rng.random() < 0.01:
                replayed.append(row)
        client.insert(f"{db}.drift_events", columns, column_names=list(DRIFT_EVENT_COLUMNS), column_oriented=True)
    if replayed:  # a crash replay: the same transitions written again, in a part of their own
        client.insert(f"{db}.drift_events", replayed, column_names=list(DRIFT_EVENT_COLUMNS))
    events_seconds = time.perf_counter() - started
    total = table_row_count(client, database=db, table="drift_events")
    close_client()
    log(f"filled {keys} keys x2 versions in {status_seconds:.1f}s; {events} events + {len(replayed)} replayed "
        f"duplicates ({total} rows) in {events_seconds:.1f}s")
    return {"drift_events_rows": int(total), "replayed_duplicates": len(replayed)}


def _zscore_decision(z: float) -> list:
    """The method columns of a zscore row (METHOD_COLUMNS order): the z-score against z > 2."""
    return ["zscore", "z_score", z, 2.0, [], []]


# --- server -------------------------------------------------------------------------------------
def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # polling a readiness condition, bounded by the deadline
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


# --- load ---------------------------------------------------------------------------------------
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _run_wrk(url: str, *, seconds: int, connections: int, threads: int) -> dict:
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", url],
        capture_output=True, text=True, check=True,
    )
    out = done.stdout
    percentiles = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        percentiles[pct] = float(value) * _UNIT_MS[unit]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "p50_ms": round(percentiles["50"], 3),
        "p99_ms": round(percentiles["99"], 3),
        "requests": requests,
        "requests_per_s": round(rps, 1),
        "seconds": requests / rps if rps else float(seconds),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def _run_python_client(url: str, *, seconds: int, connections: int, **_) -> dict:
    """A bounded closed-loop client: ``connections`` threads, each one request at a time."""
    import http.client

    parts = urlparse(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    non_2xx = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal non_2xx
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine, bad = [], 0
        while time.monotonic() < deadline and len(mine) < 1_000_000:
            started = time.perf_counter()
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            bad += response.status >= 300
        conn.close()
        with lock:
            latencies.extend(mine)
            non_2xx += bad

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(connections)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 3)

    return {"p50_ms": pct(50), "p99_ms": pct(99), "requests": len(latencies),
            "requests_per_s": round(len(latencies) / elapsed, 1), "seconds": elapsed, "non_2xx": non_2xx,
            "socket_errors": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10, help="load duration per endpoint")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections of the load tool")
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)

    load_at_start = round(os.getloadavg()[0], 2)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
    workdir = Path(tempfile.mkdtemp(prefix="bench_api_"))
    clickhouse_url = f"chdb://{workdir / 'clickhouse'}"
    import environ

    base_db_url = os.environ.get("DATABASE_URL") or environ.Env().str(
        "DATABASE_URL", default="postgres://drift:drift@127.0.0.1:5432/drift"
    )
    bench_db_url = _bench_database_url(base_db_url)
    env = {
        **os.environ,
        "DATABASE_URL": bench_db_url,
        "CLICKHOUSE_URL": clickhouse_url,
        "KAFKA_BOOTSTRAP_SERVERS": "",  # not part of what is measured
        "API_TOKEN_AUTH": "false",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    server: subprocess.Popen | None = None
    try:
        log(f"postgres: recreating database {BENCH_DB}")
        recreate_database(base_db_url, BENCH_DB)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)

        os.environ.update(DATABASE_URL=bench_db_url, CLICKHOUSE_URL=clickhouse_url)
        import django

        django.setup()
        fill = _fill_clickhouse(keys=args.keys, events=args.events, seed=args.seed)

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log(f"gunicorn on {base}: --workers 1 --threads {args.gunicorn_threads}")
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "driftsite.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", str(args.gunicorn_threads), "--worker-class", "gthread",
             "--log-level", "warning", "--timeout", "120"],
            cwd=REPO, env=env,
        )
        status_url = f"{base}/drift/status?limit=100"
        events_url = f"{base}/drift/events?limit=50"
        _wait_ready(status_url, server)
        first_status = _get(status_url)
        assert first_status["count"] == args.keys, first_status["count"]
        first_events = _get(events_url)
        assert len(first_events["results"]) == 50
        page = first_events
        for _ in range(20):  # a page 1,000 events deep, reached by following cursors
            page = _get(page["next"])
        deep_events_url = page["next"]

        tool = args.load_tool
        if tool == "auto":
            tool = "wrk" if shutil.which("wrk") else "python"
        run = _run_wrk if tool == "wrk" else _run_python_client
        load = {"seconds": args.seconds, "connections": args.connections, "threads": min(2, args.connections)}
        for url in (status_url, events_url):  # warm-up: caches, connection pools, lazy imports
            run(url, **{**load, "seconds": 2})
        results = {}
        for name, url in (("status", status_url), ("events", events_url), ("events_deep", deep_events_url)):
            log(f"{tool}: {args.connections} connections for {args.seconds}s -> {url.replace(base, '')[:80]}")
            results[name] = run(url, **load)
            log(f"  {name}: {results[name]}")
        total_requests = results["status"]["requests"] + results["events"]["requests"]
        total_seconds = results["status"]["seconds"] + results["events"]["seconds"]
        summary = {
            "status_p50_ms": results["status"]["p50_ms"],
            "status_p99_ms": results["status"]["p99_ms"],
            "events_p50_ms": results["events"]["p50_ms"],
            "events_p99_ms": results["events"]["p99_ms"],
            "requests_per_s": round(total_requests / total_seconds, 1),
            "status_requests_per_s": results["status"]["requests_per_s"],
            "events_requests_per_s": results["events"]["requests_per_s"],
            "events_deep_page_p50_ms": results["events_deep"]["p50_ms"],
            "events_deep_page_p99_ms": results["events_deep"]["p99_ms"],
            "non_2xx": sum(r["non_2xx"] for r in results.values()),
            "keys": args.keys,
            "events": args.events,
            **fill,
            "load_tool": tool,
            "connections": args.connections,
            "seconds_per_endpoint": args.seconds,
            "server": f"gunicorn gthread --workers 1 --threads {args.gunicorn_threads}",
            "clickhouse": "chDB (embedded)",
            "load_average_1m_at_start": load_at_start,
            "query_cache_seconds": float(env.get("API_QUERY_CACHE_SECONDS", 1.0)),
            # issue #13: p99 < 75 ms for each, at >= 100 requests/s each
            "targets_met": all(results[n]["p99_ms"] < 75 and results[n]["requests_per_s"] >= 100
                               for n in ("status", "events")),
        }
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        try:
            from detection.clickhouse.client import close_client

            close_client()
        except Exception:  # Django may not be set up if an early step failed
            pass
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            recreate_database(base_db_url, BENCH_DB, drop_only=True)
        except Exception as exc:
            log(f"could not drop {BENCH_DB}: {exc}")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
