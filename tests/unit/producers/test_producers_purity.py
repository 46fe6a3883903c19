"""Architecture rules for the producers' pure modules (what import-linter would enforce):
no Django, Kafka, database or ClickHouse imports, and no clock reads -- time is passed in."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PURE = ["producers.signals", "producers.control", "producers.injection", "producers.runner"]
FORBIDDEN = {"django", "rest_framework", "confluent_kafka", "clickhouse_connect", "chdb", "psycopg", "airflow",
             "config_app", "monitoring_api", "detection.stream", "detection.clickhouse"}
NO_CLOCK = ["producers.signals", "producers.control", "producers.injection"]
# pure modules of other apps that the producers' pure modules may share (no I/O, no Django)
SHARED_PURE = {"config_app.scenario_rules"}


def imported_modules(module: str) -> set[str]:
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io_framework(module):
    bad = {name for name in imported_modules(module) if name not in SHARED_PURE
           and any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == set(), f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", NO_CLOCK)
def test_generators_and_contracts_never_read_a_clock(module):
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    for needle in ("time.time", "datetime.now", "time.monotonic", "utcnow", "import time", "random.random()"):
        assert needle not in source, f"{module} reads a clock or a global RNG: {needle}"


@pytest.mark.parametrize("module", PURE)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("module", sorted(SHARED_PURE))
def test_shared_pure_modules_are_pure_too(module):
    bad = {name for name in imported_modules(module) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == set(), f"{module} imports {sorted(bad)}"
