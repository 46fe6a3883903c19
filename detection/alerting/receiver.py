"""A minimal Alertmanager webhook receiver that records what it is sent (demo and tests).

Alertmanager's ``webhook_config`` POSTs a JSON object per notification: ``status``, ``receiver``,
``groupLabels``, ``alerts`` (each with ``status`` firing|resolved, ``labels``, ``annotations``,
``startsAt``, ``endsAt``, ``fingerprint``), ``version`` "4". This server keeps every one in
memory, answers 200, and counts alerts per drift episode: an episode is one alert instance,
identified by its key (source_id, metric) and its ``startsAt``, so a repeated notification of
the same alert is counted once. It is not a notification channel for production use.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedAlert:
    received_at: float  # time.time()
    status: str  # firing | resolved
    source_id: str
    metric: str
    starts_at: str
    ends_at: str
    labels: dict[str, str]
    annotations: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_id, self.metric)

    @property
    def episode(self) -> tuple[str, str, str]:
        return (self.source_id, self.metric, self.starts_at)


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._alerts: list[ReceivedAlert] = []
        self.notifications = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    receiver._record(body)
                except (ValueError, TypeError, KeyError, AttributeError):
                    self.send_response(400)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()

            def log_message(self, format, *args):  # quiet: Alertmanager posts often
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}/alerts"

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, body: dict[str, Any]) -> None:
        now = time.time()
        received = [
            ReceivedAlert(
                received_at=now, status=str(a["status"]), source_id=str(a["labels"].get("source_id", "")),
                metric=str(a["labels"].get("metric", "")), starts_at=str(a["startsAt"]), ends_at=str(a.get("endsAt", "")),
                labels=dict(a["labels"]), annotations=dict(a.get("annotations") or {}),
            )
            for a in body["alerts"]
        ]
        with self._lock:
            self.notifications += 1
            self._alerts.extend(received)

    def alerts(self) -> list[ReceivedAlert]:
        with self._lock:
            return list(self._alerts)

    def episodes(self, status: str) -> set[tuple[str, str, str]]:
        """(source_id, metric, startsAt) of every alert received with ``status``."""
        return {a.episode for a in self.alerts() if a.status == status}

    def summary(self, injected_keys: Iterable[tuple[str, str]]) -> dict[str, int]:
        """alerts_fired / alerts_resolved: distinct alert instances received firing / resolved;
        false_alerts: fired instances of keys without an injected drift."""
        injected = set(injected_keys)
        fired = self.episodes("firing")
        return {
            "alerts_fired": len(fired),
            "alerts_resolved": len(self.episodes("resolved")),
            "false_alerts": sum(1 for source_id, metric, _ in fired if (source_id, metric) not in injected),
        }
