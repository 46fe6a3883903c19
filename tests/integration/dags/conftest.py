"""A throwaway Airflow metadata database (SQLite in a temp AIRFLOW_HOME) for DAG tests.

Airflow reads its configuration when it is first imported, so the environment is set here,
before any test imports ``airflow``; the tests import it inside their bodies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    wanted = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    from airflow.utils.db import initdb

    initdb()
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
