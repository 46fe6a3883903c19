"""The baseline_update DAG file, read as source (no Airflow, no services)."""

from __future__ import annotations

import ast
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"


def test_dag_file_imports_only_airflow_and_the_stdlib_at_module_level():
    """Parsing stays cheap: Django, the project and the database clients load inside the task."""
    tree = ast.parse((DAGS_DIR / "baseline_update.py").read_text())
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert modules == {"__future__", "os", "datetime", "airflow"}
