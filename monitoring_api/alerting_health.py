"""The /health probe of Alertmanager: optional, so when it is down the API is degraded, not down.

It asks every ``ALERTMANAGER_URL`` for ``/-/ready``. When the notifier runs in this process
(embedded mode, ``run_stack``) its delivery state is added: consecutive failed posts, the last
error and the last success per Alertmanager; a notifier that keeps failing makes the component
down even if Alertmanager answers (e.g. it rejects our alerts).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from detection.alerting.alertmanager import ready_get, redact
from detection.alerting.notifier import running_notifier


def alertmanager_probe(timeout_seconds: float) -> dict[str, Any]:
    errors = []
    for url in settings.ALERTMANAGER_URL:
        try:
            ready_get(url, timeout=timeout_seconds)
        except Exception as exc:
            errors.append(f"{redact(url)} not ready: {exc}")
    info: dict[str, Any] = {"alertmanagers": [redact(u) for u in settings.ALERTMANAGER_URL]}
    notifier = running_notifier()
    if notifier is not None:
        status = notifier.status()
        info["notifier"] = {
            "firing": status.firing,
            "resolved": status.resolved,
            "last_evaluation_at": status.last_evaluation_at.isoformat() if status.last_evaluation_at else None,
            "last_evaluation_error": status.last_evaluation_error,
            "targets": [t.as_dict() for t in status.targets],
        }
        errors += [f"notifier: {t.consecutive_failures} failed posts to {t.url}: {t.last_error}"
                   for t in status.targets if t.consecutive_failures]
    if errors:
        raise RuntimeError("; ".join(errors))
    return info
