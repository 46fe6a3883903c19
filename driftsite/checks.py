"""System checks on environment-derived settings, so every command fails fast and clearly."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Warning, register

from detection.core import kernel


@register()
def check_drift_settings(app_configs, **kwargs):
    errors = []
    url = urlparse(settings.CLICKHOUSE_URL)
    if url.scheme not in {"chdb", "http", "https"}:
        errors.append(
            Error(
                f"CLICKHOUSE_URL must start with chdb://, http:// or https:// (got {settings.CLICKHOUSE_URL!r})",
                id="driftsite.E001",
            )
        )
    elif url.scheme == "chdb" and not url.path.startswith("/"):
        errors.append(Error("CLICKHOUSE_URL chdb:// needs an absolute path, e.g. chdb:///var/lib/drift/ch", id="driftsite.E002"))
    if not settings.CLICKHOUSE_DATABASE.isidentifier():
        errors.append(Error(f"CLICKHOUSE_DATABASE must be a plain identifier (got {settings.CLICKHOUSE_DATABASE!r})", id="driftsite.E003"))
    topics = [settings.KAFKA_EVENTS_TOPIC, settings.KAFKA_DLQ_TOPIC, settings.KAFKA_CONTROL_TOPIC]
    if len(set(topics)) != 3 or not all(topics):
        errors.append(Error(f"KAFKA_*_TOPIC must be three distinct non-empty names (got {topics})", id="driftsite.E004"))
    for name in ("CONFIG_REFRESH_SECONDS", "DETECTOR_BATCH_MAX_SECONDS", "BASELINE_INTERVAL_SECONDS",
                 "DETECTOR_GIL_SWITCH_MS"):
        if getattr(settings, name) <= 0:
            errors.append(Error(f"{name} must be > 0", id="driftsite.E005"))
    for name in ("ALERT_RESEND_SECONDS", "ALERT_EVALUATION_SECONDS", "ALERTMANAGER_TIMEOUT_SECONDS"):
        if getattr(settings, name) <= 0:
            errors.append(Error(f"{name} must be > 0", id="driftsite.E005"))
    for am_url in settings.ALERTMANAGER_URL:
        if urlparse(am_url).scheme not in {"http", "https"} or not urlparse(am_url).hostname:
            errors.append(Error(f"ALERTMANAGER_URL entries must be http(s)://host[:port][/prefix] (got {am_url!r})",
                                id="driftsite.E007"))
    for name in ("DETECTOR_BATCH_MAX_EVENTS", "KAFKA_EVENTS_PARTITIONS"):
        if getattr(settings, name) < 1:
            errors.append(Error(f"{name} must be >= 1", id="driftsite.E006"))
    if settings.BASELINE_FOLD_VIA not in {"timer", "endpoint", "direct"}:
        errors.append(Error(f"BASELINE_FOLD_VIA must be timer, endpoint or direct (got {settings.BASELINE_FOLD_VIA!r})",
                            id="driftsite.E009"))
    if settings.BASELINE_FOLD_TIMEOUT_SECONDS <= 0:
        errors.append(Error("BASELINE_FOLD_TIMEOUT_SECONDS must be > 0", id="driftsite.E005"))
    if not 0 <= settings.INTERNAL_API_PORT <= 65535:
        errors.append(Error(f"INTERNAL_API_PORT must be a port number (got {settings.INTERNAL_API_PORT})", id="driftsite.E008"))
    if urlparse(settings.INTERNAL_API_URL).scheme not in {"http", "https"}:
        errors.append(Error(f"INTERNAL_API_URL must start with http:// or https:// (got {settings.INTERNAL_API_URL!r})",
                            id="driftsite.E008"))
    if not 0 <= settings.API_QUERY_CACHE_SECONDS <= 1:
        errors.append(Error(f"API_QUERY_CACHE_SECONDS must be between 0 and 1 (got {settings.API_QUERY_CACHE_SECONDS})",
                            id="driftsite.E020"))
    if not kernel.NATIVE:
        errors.append(Warning(
            f"the compiled cusum kernel (detection/core/_kernel.c) is not in use, {kernel.NOT_NATIVE_REASON}: "
            "the cusum method runs in pure Python (same results, slower)",
            hint="run `make native` (needs a C compiler)", id="driftsite.W001"))
    return errors
