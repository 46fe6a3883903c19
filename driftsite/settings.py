"""The one settings module.

Every value comes from the environment (or an optional git-ignored ``.env`` file) through
django-environ. The defaults are the embedded mode on one machine: the Postgres cluster and
Kafka broker that ``scripts/services up`` starts on loopback, and chDB (ClickHouse in-process)
in ``.data/clickhouse``. Server mode (docker-compose, production) differs only by environment
variables. ``.env.example`` lists every variable with a one-line explanation.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Django's own -------------------------------------------------------------------------
# The default key is for local development only; server mode must set DJANGO_SECRET_KEY.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-set-DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config_app",
    "detection",
    "producers",
    "monitoring_api",
]

MIDDLEWARE = [
    "monitoring_api.metrics.PrometheusMetricsMiddleware",  # first: times everything below it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "driftsite.urls"
WSGI_APPLICATION = "driftsite.wsgi.application"
ASGI_APPLICATION = "driftsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default="postgres://drift:drift@127.0.0.1:5432/drift"
    ),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only collectstatic (the Docker image) needs a STATIC_ROOT; embedded mode serves from finders.
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=None)
# Static files are served by WhiteNoise from the installed packages' own folders, so the admin
# and API pages work offline under gunicorn without a collectstatic step in embedded mode.
WHITENOISE_USE_FINDERS = True
# The dashboard's chart library comes from npm (`npm ci` at setup), never from a CDN.
STATICFILES_DIRS = [
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ("vendor/chartjs-plugin-annotation", BASE_DIR / "node_modules" / "chartjs-plugin-annotation" / "dist"),
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"kafka": {"level": "WARNING"}, "airflow": {"level": "WARNING"}},
}

# --- Kafka ----------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
KAFKA_EVENTS_TOPIC = env.str("KAFKA_EVENTS_TOPIC", default="telemetry.events")
KAFKA_DLQ_TOPIC = env.str("KAFKA_DLQ_TOPIC", default="telemetry.events.dlq")
KAFKA_CONTROL_TOPIC = env.str("KAFKA_CONTROL_TOPIC", default="drift.control")
KAFKA_EVENTS_PARTITIONS = env.int("KAFKA_EVENTS_PARTITIONS", default=6)
# Consumer groups: the detector, the raw-event ingester used on chDB, and the group of the
# ClickHouse server's Kafka engine table (server mode).
KAFKA_DETECTOR_GROUP = env.str("KAFKA_DETECTOR_GROUP", default="drift-detector")
KAFKA_INGEST_GROUP = env.str("KAFKA_INGEST_GROUP", default="raw-events-ingest")
CLICKHOUSE_KAFKA_GROUP = env.str("CLICKHOUSE_KAFKA_GROUP", default="clickhouse-raw-events")
# The broker list as the ClickHouse server sees it (in docker-compose: kafka:9092).
CLICKHOUSE_KAFKA_BROKERS = env.str("CLICKHOUSE_KAFKA_BROKERS", default=KAFKA_BOOTSTRAP_SERVERS)

# --- ClickHouse -----------------------------------------------------------------------------
# chdb:///abs/path = embedded chDB (one process per directory); http(s)://host:8123 = server.
CLICKHOUSE_URL = env.str("CLICKHOUSE_URL", default=f"chdb://{BASE_DIR / '.data' / 'clickhouse'}")
CLICKHOUSE_DATABASE = env.str("CLICKHOUSE_DATABASE", default="drift")

# --- Detector -------------------------------------------------------------------------------
CONFIG_REFRESH_SECONDS = env.float("CONFIG_REFRESH_SECONDS", default=10.0)
DETECTOR_BATCH_MAX_EVENTS = env.int("DETECTOR_BATCH_MAX_EVENTS", default=20000)
DETECTOR_BATCH_MAX_SECONDS = env.float("DETECTOR_BATCH_MAX_SECONDS", default=0.05)
DETECTOR_MAX_FUTURE_SKEW_SECONDS = env.float("DETECTOR_MAX_FUTURE_SKEW_SECONDS", default=300.0)
DETECTOR_METRICS_PORT = env.int("DETECTOR_METRICS_PORT", default=9108)
# How long a thread may hold the GIL while another waits (Python's default is 5 ms); set by the
# stream commands. See detection.wiring.tune_interpreter for why 1 ms.
DETECTOR_GIL_SWITCH_MS = env.float("DETECTOR_GIL_SWITCH_MS", default=1.0)
# Producers: how long a message may wait for the broker (librdkafka retries meanwhile).
PRODUCER_DELIVERY_TIMEOUT_SECONDS = env.float("PRODUCER_DELIVERY_TIMEOUT_SECONDS", default=600.0)
SOURCE_INACTIVITY_SECONDS = env.float("SOURCE_INACTIVITY_SECONDS", default=300.0)
# Source liveness (first/last seen) is written to Postgres at most this often, off the consumer thread.
SOURCE_RECORD_SECONDS = env.float("SOURCE_RECORD_SECONDS", default=10.0)
# Statuses are coalesced (newest per key) and written at most this often; transitions are
# always written with their batch.
STATUS_FLUSH_SECONDS = env.float("STATUS_FLUSH_SECONDS", default=1.0)
# A batch whose write keeps failing is retried (consumption paused) this long before the part
# restarts; nothing of it is committed meanwhile.
STREAM_WRITE_RETRY_SECONDS = env.float("STREAM_WRITE_RETRY_SECONDS", default=120.0)
# Supervision: a part failing this many times within the window makes the process exit 1.
SUPERVISOR_MAX_RESTARTS = env.int("SUPERVISOR_MAX_RESTARTS", default=5)
SUPERVISOR_WINDOW_SECONDS = env.float("SUPERVISOR_WINDOW_SECONDS", default=300.0)

# --- Baselines ------------------------------------------------------------------------------
BASELINE_INTERVAL_SECONDS = env.float("BASELINE_INTERVAL_SECONDS", default=60.0)
BASELINE_SAFETY_LAG_SECONDS = env.float("BASELINE_SAFETY_LAG_SECONDS", default=5.0)
# Who runs the fold on schedule (one setting for run_stack and the Airflow DAG):
#   timer    run_stack folds on its own timer every BASELINE_INTERVAL_SECONDS (embedded default);
#   endpoint Airflow schedules it: the DAG's task asks run_stack (which owns chDB) through the
#            internal endpoint below; run_stack's timer is off;
#   direct   Airflow schedules it and the task folds itself against the ClickHouse server
#            (server mode); run_stack's timer is off.
BASELINE_FOLD_VIA = env.str("BASELINE_FOLD_VIA", default="timer")
# How long the DAG's task waits for run_stack's answer before the attempt fails (and retries).
BASELINE_FOLD_TIMEOUT_SECONDS = env.float("BASELINE_FOLD_TIMEOUT_SECONDS", default=600.0)

# --- Internal endpoint of run_stack (BASELINE_FOLD_VIA=endpoint) ----------------------------
# Loopback only by default. No default token: with none configured every request is refused.
INTERNAL_API_HOST = env.str("INTERNAL_API_HOST", default="127.0.0.1")
INTERNAL_API_PORT = env.int("INTERNAL_API_PORT", default=8001)
INTERNAL_API_TOKEN = env.str("INTERNAL_API_TOKEN", default="")
# Where the DAG's task reaches that endpoint.
INTERNAL_API_URL = env.str("INTERNAL_API_URL", default=f"http://127.0.0.1:{INTERNAL_API_PORT}")

# --- Monitoring API -------------------------------------------------------------------------
API_TOKEN_AUTH = env.bool("API_TOKEN_AUTH", default=False)
API_HOST = env.str("API_HOST", default="127.0.0.1")
API_PORT = env.int("API_PORT", default=8000)

API_HEALTH_TIMEOUT_SECONDS = env.float("API_HEALTH_TIMEOUT_SECONDS", default=3.0)
# /drift/status and /drift/events reuse a query's result this long (0 = off, at most 1 s):
# see monitoring_api/query_cache.py for the staleness it allows.
API_QUERY_CACHE_SECONDS = env.float("API_QUERY_CACHE_SECONDS", default=1.0)
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=10)

# Per-key gauges (driftwatch_key_*) on /metrics: one series per key and gauge, read from
# drift_status_current at scrape time. Off: only the API's own request metrics.
API_METRICS_KEY_GAUGES = env.bool("API_METRICS_KEY_GAUGES", default=True)

# --- Alerting (Prometheus Alertmanager) -------------------------------------------------------
# Comma-separated base URLs (every instance of an HA cluster, as Prometheus does); empty = off.
ALERTMANAGER_URL = env.list("ALERTMANAGER_URL", default=[])
ALERTMANAGER_TIMEOUT_SECONDS = env.float("ALERTMANAGER_TIMEOUT_SECONDS", default=5.0)
# The Alertmanager web UI as a browser reaches it (dashboard link); default: the first URL.
ALERTMANAGER_UI_URL = env.str("ALERTMANAGER_UI_URL", default="") or (ALERTMANAGER_URL[0] if ALERTMANAGER_URL else "")
ALERT_RESEND_SECONDS = env.float("ALERT_RESEND_SECONDS", default=60.0)
ALERT_EVALUATION_SECONDS = env.float("ALERT_EVALUATION_SECONDS", default=5.0)
# Base URL of the dashboard in alert links (generatorURL); default: this API's host and port.
ALERT_DASHBOARD_URL = env.str("ALERT_DASHBOARD_URL", default="") or f"http://{API_HOST}:{API_PORT}"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "driftwatch monitoring API",
    "DESCRIPTION": (
        "Read-only API over the drift detector's results (ClickHouse) and configuration (PostgreSQL). "
        "Every path answers with or without a trailing slash. Only GET/HEAD/OPTIONS are allowed; other "
        "methods answer 405. Invalid query parameters answer 400 with a body naming them; an unknown `format` "
        "answers 404 and an Accept header the API cannot satisfy 406, both with `{\"detail\": ...}`. With "
        "API_TOKEN_AUTH on, send `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Swagger UI and ReDoc from the drf-spectacular-sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
