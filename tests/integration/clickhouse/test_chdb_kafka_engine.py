"""Why embedded mode ingests raw events with its own consumer: chDB's Kafka engine cannot start.

Checked against the real local broker in a separate process (its own chDB directory). If a
chDB upgrade makes this pass, ClickHouse's Kafka engine + materialized view (migration 0004)
could serve embedded mode too: revisit detection/stream/ingest.py and the README.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
client.command("CREATE DATABASE IF NOT EXISTS probe")
try:
    client.command(
        "CREATE TABLE probe.queue (raw String) ENGINE = Kafka SETTINGS kafka_broker_list = '" + sys.argv[2] + "', "
        "kafka_topic_list = 'chdb-probe', kafka_group_name = 'chdb-probe', kafka_format = 'RawBLOB'"
    )
except Exception as exc:
    print("REFUSED", str(exc)[:200])
else:
    print("CREATED")
"""


def test_chdb_cannot_create_a_kafka_engine_table(tmp_path, kafka_bootstrap):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "chdb"), kafka_bootstrap],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("REFUSED"), (
        "chDB created a Kafka engine table: the embedded ingester may no longer be needed (see module docstring)"
    )
    assert "Shutdown was called" in line
