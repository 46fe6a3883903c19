"""A real Alertmanager process for tests and the demo test: its own port, config and data dir.

The binary is the one ``scripts/services up`` builds from the Go module proxy
(``.cache/alertmanager/bin/alertmanager``); a test that needs it fails loudly when it is missing.
The config routes every alert, one group per key, to a webhook receiver, with short timings
(group_wait 1 s, group_interval 2 s) so notifications arrive within seconds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from driftsite.polling import wait_until
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".cache" / "alertmanager" / "bin" / "alertmanager"

CONFIG = """\
route:
  receiver: webhook
  group_by: [alertname, source_id, metric]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
"""


def require_binary() -> Path:
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: run `scripts/services up` (needs Go) to build Alertmanager")
    return BINARY


class AlertmanagerProcess:
    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.binary = require_binary()
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "alertmanager.yml"
        self.storage = workdir / "data"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG.format(webhook_url=webhook_url))
        self.log = workdir / "alertmanager.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self) -> AlertmanagerProcess:
        self.started_at = time.time()
        self.process = subprocess.Popen(
            [str(self.binary), f"--config.file={self.config}", f"--storage.path={self.storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self.process.poll() is not None or self.ready(), timeout=60, what="Alertmanager to be ready")
        if self.process.poll() is not None:
            raise RuntimeError(f"Alertmanager exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        """SIGTERM (Alertmanager saves its silences and notification log) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def api(self, path: str, *, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/v2{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"filter={urllib.request.quote(f'{k}={json.dumps(v)}')}" for k, v in filters.items())
        return self.api(f"/alerts?{query}")
