"""The core is pure: no service imports, no clock reads; replay needs no Django."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
CORE = REPO / "detection" / "core"
FORBIDDEN = ("django", "rest_framework", "confluent_kafka", "clickhouse_connect", "chdb", "psycopg", "airflow")


def test_core_sources_read_no_clock():
    pattern = re.compile(r"\b(time\.time|time\.monotonic|datetime\.now|datetime\.utcnow|date\.today)\b|\.now\(")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(CORE.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_core_and_replay_import_no_service_library():
    code = (
        "import sys, json\n"
        "import detection.core.detector, detection.core.events, detection.core.moments, detection.replay\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
