"""Benchmark of the baseline fold; the LAST output line is one JSON object.

    python -m bench.baselines [--events 10000000] [--keys 10000] [--incremental 1000000]

It measures :func:`detection.baselines.fold.baseline_fold` for real (chDB + PostgreSQL):

- ``fold_10m_seconds``: ``--events`` raw events over ``--keys`` keys folded into empty baselines;
- ``incremental_1m_seconds``: then ``--incremental`` newly ingested rows (1% of them replays of
  already folded events, which must be dropped, and 1% late events) folded into those baselines;
- ``noop_seconds``: the same interval once more (nothing to do).

Isolation, so the developer's data is never touched:

- ClickHouse: a fresh chDB directory under the system temp dir (``CLICKHOUSE_URL=chdb:///...``),
  deleted at the end;
- PostgreSQL: a dedicated database, ``drift_bench`` by default (``--database``), on the server of
  ``DATABASE_URL``; it is dropped and re-created, migrated, and dropped again at the end (``--keep``
  keeps both). The benchmark refuses to use the database ``DATABASE_URL`` itself names.

Both are put into the environment before Django is set up, so the settings module picks them up.
Events are generated with numpy and inserted column-wise as one Parquet block.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from bench.databases import recreate_database

T0 = datetime(2024, 1, 1, tzinfo=UTC)
METRICS_PER_SOURCE = 10


def _bench_database_url(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    if parts.path.lstrip("/") == name:
        raise SystemExit(f"refusing to benchmark in {name!r}: it is the database DATABASE_URL points to")
    return urlunsplit(parts._replace(path=f"/{name}"))


def _events_table(rng, *, first_index: int, count: int, keys: int, ingest_time: datetime, t0_ms: int,
                  late: int = 0):
    """``count`` events: unique ids, values ~1e9 + per-key level + unit noise, event times in the
    hour from ``t0_ms`` (the first ``late`` of them an hour earlier)."""
    import numpy as np
    import pyarrow as pa

    index = np.arange(first_index, first_index + count, dtype=np.uint64)
    key = rng.integers(0, keys, count)
    sources = keys // METRICS_PER_SOURCE
    event_ms = t0_ms + rng.integers(0, 3_600_000, count)
    event_ms[:late] -= 3_600_000
    return pa.table({
        # an odd multiplier is a bijection on uint64: unique, well-spread ids
        "event_id": pa.array(index * np.uint64(0x9E3779B97F4A7C15)),
        "source_id": pa.DictionaryArray.from_arrays(
            pa.array((key % sources).astype(np.int32)), pa.array([f"source-{i:05d}" for i in range(sources)])
        ),
        "metric": pa.DictionaryArray.from_arrays(
            pa.array((key // sources).astype(np.int32)), pa.array([f"metric-{i}" for i in range(METRICS_PER_SOURCE)])
        ),
        "value": pa.array(1e9 + (key % 97) * 10.0 + rng.normal(0.0, 1.0, count)),
        "event_time": pa.array(event_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "ingest_time": _ingest_column(count, ingest_time),
    })


def _ingest_column(count: int, ingest_time: datetime):
    import numpy as np
    import pyarrow as pa

    ms = int(ingest_time.timestamp() * 1000)
    return pa.array(np.full(count, ms), type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))


def _insert(client, table_name: str, table) -> None:
    """One column-oriented insert: the table as an uncompressed Parquet block."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=1_000_000, compression="none")
    client.raw_insert(table_name, column_names=table.column_names, insert_block=sink.getvalue(), fmt="Parquet")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--incremental", type=int, default=1_000_000)
    parser.add_argument("--database", default="drift_bench", help="Postgres database to create and use")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the bench database and chDB directory")
    args = parser.parse_args(argv)
    if args.keys % METRICS_PER_SOURCE or args.keys <= 0:
        parser.error(f"--keys must be a positive multiple of {METRICS_PER_SOURCE}")

    base_url = os.environ.get("DATABASE_URL", "postgres://drift:drift@127.0.0.1:5432/drift")
    bench_url = _bench_database_url(base_url, args.database)
    chdb_dir = tempfile.mkdtemp(prefix="bench_baselines_chdb_")
    recreate_database(base_url, args.database)
    os.environ["DATABASE_URL"] = bench_url
    os.environ["CLICKHOUSE_URL"] = f"chdb://{chdb_dir}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    from driftsite.bootstrap import django_setup

    django_setup()
    import numpy as np
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from config_app.models import BaselineStats
    from detection.baselines.fold import baseline_fold
    from detection.clickhouse.client import close_client, get_client
    from detection.clickhouse.schema import migrate_from_settings

    try:
        call_command("migrate", verbosity=0)
        migrate_from_settings()
        client = get_client()
        table = f"{settings.CLICKHOUSE_DATABASE}.raw_events"
        rng = np.random.default_rng(args.seed)
        t0_ms = int(T0.timestamp() * 1000)

        started = time.perf_counter()
        batch = _events_table(rng, first_index=0, count=args.events, keys=args.keys,
                              ingest_time=T0 + timedelta(hours=1), t0_ms=t0_ms)
        generate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _insert(client, table, batch)
        insert_seconds = time.perf_counter() - started

        first = baseline_fold(until=T0 + timedelta(hours=1), safety_lag_seconds=0)

        # The next batch: new events (1% of them late: event times in the hour already folded)
        # and replays of already folded events (same rows, new ingest time) that must be dropped.
        replays = args.incremental // 100
        fresh = args.incremental - replays
        _insert(client, table, _events_table(rng, first_index=args.events, count=fresh, keys=args.keys,
                                             ingest_time=T0 + timedelta(hours=2), t0_ms=t0_ms + 3_600_000,
                                             late=fresh // 100))
        replayed = batch.slice(0, replays)
        replayed = replayed.set_column(replayed.schema.get_field_index("ingest_time"), "ingest_time",
                                       _ingest_column(replays, T0 + timedelta(hours=2)))
        _insert(client, table, replayed)
        del batch, replayed

        incremental = baseline_fold(until=T0 + timedelta(hours=2), safety_lag_seconds=0)
        noop = baseline_fold(until=T0 + timedelta(hours=2), safety_lag_seconds=0)

        totals = BaselineStats.objects.values_list("count", flat=True)
        stored_events = sum(totals)
        report = {
            "events": args.events,
            "keys": args.keys,
            "incremental_rows": args.incremental,
            "fold_10m_seconds": round(first.seconds, 3),
            "fold_10m_events_folded": first.events_folded,
            "fold_10m_keys_updated": first.keys_updated,
            "incremental_1m_seconds": round(incremental.seconds, 3),
            "incremental_events_folded": incremental.events_folded,
            "incremental_replays_dropped": args.incremental - incremental.events_folded,
            "noop_seconds": round(noop.seconds, 3),
            "stored_events": stored_events,
            "exactly_once": stored_events == args.events + fresh and first.events_folded == args.events,
            "generate_seconds": round(generate_seconds, 3),
            "insert_seconds": round(insert_seconds, 3),
            "postgres_database": args.database,
        }
    finally:
        close_client()
        connections.close_all()
        if not args.keep:
            shutil.rmtree(chdb_dir, ignore_errors=True)
            recreate_database(base_url, args.database, drop_only=True)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
