# Every target installs what it needs first, so any of them works on a fresh clone.
# Quick start: `make demo`, `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DJANGO_SETTINGS_MODULE := driftsite.settings

.PHONY: help setup native services services-status services-down migrate seed demo test test-airflow test-unit chaos chromium bench bench-core bench-quality bench-pipeline bench-baselines bench-api

help:
	@echo "make demo            set everything up and run the system end to end (embedded mode)"
	@echo "make demo AIRFLOW=1  the same with Airflow scheduling the baseline fold (every minute)"
	@echo "make test            set everything up and run the whole test suite"
	@echo "make setup           virtualenv at $(VENV) with all dependencies (Airflow included), and make native"
	@echo "make native          build the cusum method's compiled kernel (detection/core/_kernel.c; needs gcc)"
	@echo "make services        start PostgreSQL, Kafka and (with Go) Alertmanager (scripts/services up)"
	@echo "make services-status / services-down"
	@echo "make migrate         Postgres (Django) and ClickHouse migrations"
	@echo "make test-airflow    the e2e test in which a real Airflow scheduler runs the baseline DAG (3-5 min here)"
	@echo "make test-unit       only the pure unit tests (no services)"
	@echo "make chaos           fault suite against the real services (JSON on the last line, < 15 min)"
	@echo "make bench-core      detection core benchmark (JSON on the last line)"
	@echo "make bench-quality   detection quality: zscore, cusum and river on synthetic changes and NAB (JSON on the last line)"
	@echo "make bench-pipeline  Kafka -> detector -> ClickHouse throughput and latency (JSON on the last line)"
	@echo "make bench-baselines baseline fold of 10M events and an incremental 1M (JSON on the last line)"
	@echo "make bench-api       API latency under wrk against gunicorn (JSON on the last line)"

# The dashboard's chart library comes from npm (node_modules is git-ignored, never a CDN).
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The virtualenv is rebuilt when pyproject.toml changes. uv resolves and installs in seconds.
$(STAMP): pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5,<1"
	@test -x $(PY) || uv venv --quiet --python $(PYTHON) $(VENV)
	uv pip install --quiet --python $(PY) -r pyproject.toml --all-extras
	@touch $@

# The cusum method's compiled kernel, built in place for the virtualenv's Python (scripts/build_native;
# without a C compiler it warns and the pure-Python twin runs instead).
native: $(STAMP)
	@$(PY) scripts/build_native

setup: $(STAMP) $(NODE_STAMP) native

# Debian's Chromium, for the dashboard's browser test (Playwright drives /usr/bin/chromium).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

services: setup
	scripts/services up

services-status:
	scripts/services status

services-down:
	scripts/services down

migrate: services
	$(PY) manage.py migrate --noinput
	$(PY) manage.py migrate_clickhouse

seed: migrate
	$(PY) manage.py seed_config
	$(PY) manage.py seed_scenarios

# The demo stops what it started: its processes always, the services only if they were down.
demo: setup
	@if scripts/services status >/dev/null 2>&1; then started=""; else started=1; fi; \
	trap 'if [ -n "$$started" ]; then scripts/services down; fi' EXIT; \
	scripts/services up && \
	$(PY) manage.py migrate --noinput && $(PY) manage.py migrate_clickhouse && \
	$(PY) manage.py seed_config --method $${DEMO_METHOD:-cusum} && $(PY) manage.py seed_scenarios && \
	$(PY) scripts/demo.py $(if $(filter-out 0,$(AIRFLOW)),--airflow)

# The Airflow scheduler e2e test starts Airflow (about a minute here) and waits for scheduled
# runs, so it has its own target; .ci/run calls both.
test: services chromium
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not airflow_scheduler"

test-airflow: services
	$(PY) -m pytest -m airflow_scheduler -s

test-unit: setup
	$(PY) -m pytest tests/unit

# Stops and starts this checkout's own Kafka and PostgreSQL (scripts/services): never run it
# against services that something else depends on. Progress on stderr, one JSON line on stdout.
chaos: services
	$(PY) manage.py migrate --noinput
	$(PY) -m chaos

bench-core: setup
	$(PY) -m bench.core

# Needs ../shared/nab (the labelled NAB series) next to the repository; fails if it is missing.
bench-quality: setup
	$(PY) -m bench.quality

bench-pipeline: services
	$(PY) -m bench.pipeline

bench-baselines: services
	$(PY) -m bench.baselines

bench-api: services
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(PY) -m bench.api

bench: bench-core bench-quality bench-pipeline bench-baselines bench-api
