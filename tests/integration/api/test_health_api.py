"""/health against the real services, and with each one really unreachable.

Nothing is stopped: a "down" component is one whose address points at a closed loopback port
(or, for ClickHouse, at a fresh unmigrated chDB directory), so the probe makes its real
connection attempt and fails the way it would in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]
COMPONENTS = {"postgres", "clickhouse", "kafka"}


def test_all_components_up_is_200_with_timings(api, clickhouse):
    response = api.get("/health")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == COMPONENTS
    for name, component in body["components"].items():
        assert component["status"] == "up", (name, component)
        assert component["detail"] == "ok"
        assert isinstance(component["latency_ms"], float) and component["latency_ms"] >= 0
    assert body["components"]["kafka"]["info"]["brokers"] >= 1
    assert body["components"]["postgres"]["info"]["vendor"] == "postgresql"
    assert api.get("/health/").status_code == 200


def test_postgres_unreachable_is_503_with_detail(api, clickhouse, closed_port):
    # The probe opens its own connection (in its own thread) from the shared settings dict:
    # point that at a closed port for the duration of one request.
    settings_dict = connections["default"].settings_dict
    old_port = settings_dict["PORT"]
    settings_dict["PORT"] = str(closed_port)
    try:
        response = api.get("/health")
    finally:
        settings_dict["PORT"] = old_port
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    postgres = body["components"]["postgres"]
    assert postgres["status"] == "down"
    assert "OperationalError" in postgres["detail"] and str(closed_port) in postgres["detail"]
    assert body["components"]["clickhouse"]["status"] == "up"
    assert api.get("/health").status_code == 200  # and back once the address is right


def test_kafka_unreachable_is_503_with_detail(api, clickhouse, closed_port, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port}"
    settings.API_HEALTH_TIMEOUT_SECONDS = 1.0
    response = api.get("/health")
    assert response.status_code == 503
    kafka = response.json()["components"]["kafka"]
    assert kafka["status"] == "down" and kafka["detail"]
    assert response.json()["components"]["postgres"]["status"] == "up"


def test_kafka_not_configured_is_not_probed(api, clickhouse, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    response = api.get("/health")
    assert response.status_code == 200
    assert set(response.json()["components"]) == {"postgres", "clickhouse"}


def _get_in_subprocess(path: str, **env) -> tuple[int, dict]:
    """GET ``path`` in a fresh process (the ClickHouse client is per process), with env overrides."""
    code = (
        "import json, sys, django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client(raise_request_exception=False).get(sys.argv[1])\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    from django.conf import settings

    db = connections["default"].settings_dict
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "KAFKA_BOOTSTRAP_SERVERS": "",
        **env,
    }
    done = subprocess.run([sys.executable, "-c", code, path], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["status"], result["body"]


def test_clickhouse_unreachable_is_503_with_detail(closed_port):
    status, body = _get_in_subprocess("/health", CLICKHOUSE_URL=f"http://127.0.0.1:{closed_port}")
    assert status == 503
    clickhouse = body["components"]["clickhouse"]
    assert clickhouse["status"] == "down" and clickhouse["detail"] != "ok"
    assert body["components"]["postgres"]["status"] == "up"


def test_clickhouse_without_tables_is_503(tmp_path):
    status, body = _get_in_subprocess("/health", CLICKHOUSE_URL=f"chdb://{tmp_path / 'unmigrated'}")
    assert status == 503
    detail = body["components"]["clickhouse"]["detail"]
    assert "drift_status_current" in detail and "migrate_clickhouse" in detail


def test_api_answers_503_json_when_clickhouse_is_unreachable(closed_port):
    status, body = _get_in_subprocess("/drift/status", CLICKHOUSE_URL=f"http://127.0.0.1:{closed_port}")
    assert status == 503
    assert "unavailable" in body["detail"]


def test_api_answers_503_json_when_postgres_is_unreachable(closed_port, tmp_path):
    status, body = _get_in_subprocess(
        "/thresholds",
        DATABASE_URL=f"postgres://drift:drift@127.0.0.1:{closed_port}/drift",
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
    )
    assert status == 503
    assert "unavailable" in body["detail"]
