"""The alert notifier: pushes drift state to Alertmanager, level-triggered.

Loop (one thread in ``run_stack``, or ``manage.py run_notifier`` in server mode):

1. every ``evaluation_seconds``: read the DRIFTING keys (``drift_status_current FINAL``) and the
   keys whose latest transition is a recent DRIFT_END (``drift_events``) from ClickHouse, and the
   keys' severity / source type / thresholds from PostgreSQL (cached; reloaded every
   ``config_refresh_seconds``; if PostgreSQL is down the last loaded values are used, and
   defaults before the first load);
2. build the full alert list (:func:`detection.alerting.alerts.alerts_build`, pure);
3. post it to every Alertmanager when it changed (an alert started or ended) or when
   ``resend_seconds`` passed since the last successful post to that Alertmanager.

Nothing here is a point of no return: every post is the whole current truth, so a lost post,
an Alertmanager restart or outage, a notifier crash, or two notifiers at once change nothing
but timing. A failed post is retried with exponential backoff (1 s doubling, capped at the
resend interval) and counted; ``status()`` feeds /health (Alertmanager degraded, not down).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge

from detection.alerting.alerts import RESOLVED_RETENTION_SECONDS, AlertPlan, Key, KeyContext, alerts_build, recent_ends_pair
from detection.alerting.alertmanager import AlertmanagerError, AlertmanagerRejected, alerts_post, redact

log = logging.getLogger("detection.alerting")

POSTS = Counter("driftwatch_notifier_posts", "Posts of the alert list to an Alertmanager, by outcome.",
                ("alertmanager", "outcome"))
ALERTS_SENT = Counter("driftwatch_notifier_alerts_sent", "Alerts delivered to an Alertmanager, by status.",
                      ("alertmanager", "status"))
LAST_SUCCESS = Gauge("driftwatch_notifier_last_success_timestamp_seconds",
                     "Unix time of the last successful post to an Alertmanager.", ("alertmanager",))
FIRING = Gauge("driftwatch_notifier_firing_alerts", "Firing alerts in the notifier's last evaluation.")

BACKOFF_START_SECONDS = 1.0


@dataclass
class TargetState:
    """Delivery state of one Alertmanager."""

    url: str  # redacted
    last_success_at: datetime | None = None
    last_attempt_at: float = 0.0  # monotonic
    consecutive_failures: int = 0
    last_error: str = ""
    last_signature: frozenset | None = None
    next_attempt_at: float = 0.0  # monotonic; the backoff

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }


@dataclass
class NotifierStatus:
    targets: list[TargetState] = field(default_factory=list)
    last_evaluation_at: datetime | None = None
    last_evaluation_error: str = ""
    firing: int = 0
    resolved: int = 0

    @property
    def healthy(self) -> bool:
        return not self.last_evaluation_error and all(t.consecutive_failures == 0 for t in self.targets)


# The notifier running in this process, if any (embedded mode), so /health can report it.
_running: AlertNotifier | None = None


def running_notifier() -> AlertNotifier | None:
    return _running


class AlertNotifier:
    def __init__(
        self,
        *,
        urls: Sequence[str],
        read_drifting: Callable[[], list[dict[str, Any]]],
        read_recent_ends: Callable[[datetime], list[dict[str, Any]]],
        load_context: Callable[[], Callable[[str, str], KeyContext]],
        dashboard_url: str,
        resend_seconds: float = 60.0,
        evaluation_seconds: float = 5.0,
        config_refresh_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
        post: Callable[[str, list[dict[str, Any]], float], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("AlertNotifier needs at least one Alertmanager URL")
        if resend_seconds <= 0 or evaluation_seconds <= 0:
            raise ValueError("resend_seconds and evaluation_seconds must be > 0")
        self.urls = list(urls)
        self.read_drifting = read_drifting
        self.read_recent_ends = read_recent_ends
        self.load_context = load_context
        self.dashboard_url = dashboard_url
        self.resend_seconds = resend_seconds
        self.evaluation_seconds = evaluation_seconds
        self.config_refresh_seconds = config_refresh_seconds
        self.timeout_seconds = timeout_seconds
        self._post = post or (lambda url, alerts, timeout: alerts_post(url, alerts, timeout=timeout))
        self._context: Callable[[str, str], KeyContext] = lambda source_id, metric: KeyContext()
        self._context_loaded_at: float | None = None
        self._firing: dict[Key, datetime] = {}
        self._lock = threading.Lock()
        self._status = NotifierStatus(targets=[TargetState(url=redact(u)) for u in self.urls])

    # -- state for /health -------------------------------------------------------------------
    def status(self) -> NotifierStatus:
        with self._lock:
            return NotifierStatus(
                targets=[TargetState(**vars(t)) for t in self._status.targets],
                last_evaluation_at=self._status.last_evaluation_at,
                last_evaluation_error=self._status.last_evaluation_error,
                firing=self._status.firing,
                resolved=self._status.resolved,
            )

    # -- one evaluation ----------------------------------------------------------------------
    def _refresh_context(self) -> None:
        now = time.monotonic()
        if self._context_loaded_at is not None and now - self._context_loaded_at < self.config_refresh_seconds:
            return
        try:
            self._context = self.load_context()
        except Exception as exc:  # PostgreSQL down: keep the last configuration
            log.warning("notifier: configuration not reloaded (%s); using the last one", exc)
        self._context_loaded_at = now

    def plan(self, now: datetime | None = None) -> AlertPlan:
        """Read the state and build the alert list (no post)."""
        now = now or datetime.now(UTC)
        self._refresh_context()
        drifting = self.read_drifting()
        ends = recent_ends_pair(self.read_recent_ends(now - timedelta(seconds=RESOLVED_RETENTION_SECONDS)))
        return alerts_build(
            drifting, ends, context_for=self._context, now=now, resend_seconds=self.resend_seconds,
            dashboard_url=self.dashboard_url, previously_firing=self._firing,
        )

    def evaluate(self) -> None:
        """One evaluation: read, build, and post to every Alertmanager that is due."""
        try:
            plan = self.plan()
        except Exception as exc:  # ClickHouse unreadable: nothing to send; retry next tick
            log.warning("notifier: could not read the drift state: %s", exc)
            with self._lock:
                self._status.last_evaluation_error = f"{type(exc).__name__}: {exc}"[:500]
            return
        payload = plan.payload()
        firing = sum(1 for a in plan.alerts if not a["_resolved"])
        FIRING.set(firing)
        all_delivered = True
        for url, target in zip(self.urls, self._status.targets):
            all_delivered &= self._deliver(url, target, plan, payload)
        # Orphans (keys resolved only from memory) are forgotten once every target has them.
        self._firing = plan.firing if all_delivered else {**plan.orphans, **plan.firing}
        with self._lock:
            self._status.last_evaluation_at = datetime.now(UTC)
            self._status.last_evaluation_error = ""
            self._status.firing = firing
            self._status.resolved = len(plan.alerts) - firing

    def _deliver(self, url: str, target: TargetState, plan: AlertPlan, payload: list[dict[str, Any]]) -> bool:
        now = time.monotonic()
        changed = plan.signature != target.last_signature
        if target.consecutive_failures:
            due = now >= target.next_attempt_at
        else:
            due = changed or now - target.last_attempt_at >= self.resend_seconds
        if not due:
            return True
        # An empty list is posted too (every resend interval): it is how a recovered
        # Alertmanager is noticed when there is nothing to say, so /health does not stay degraded.
        target.last_attempt_at = now
        try:
            self._post(url, payload, self.timeout_seconds)
        except AlertmanagerRejected as exc:
            # Alertmanager stored the valid alerts; resending the same body would not help.
            POSTS.labels(target.url, "rejected").inc()
            log.error("notifier: %s rejected alerts: %s", target.url, exc)
            with self._lock:
                target.last_error = str(exc)[:500]
                target.last_signature = plan.signature
            return True
        except AlertmanagerError as exc:
            POSTS.labels(target.url, "error").inc()
            with self._lock:
                target.consecutive_failures += 1
                delay = min(BACKOFF_START_SECONDS * 2 ** (target.consecutive_failures - 1), self.resend_seconds)
                target.next_attempt_at = now + delay
                target.last_error = str(exc)[:500]
            log.warning("notifier: post to %s failed (%d in a row, retry in %.0f s): %s",
                        target.url, target.consecutive_failures, delay, exc)
            return False
        POSTS.labels(target.url, "ok").inc()
        firing = sum(1 for a in plan.alerts if not a["_resolved"])
        ALERTS_SENT.labels(target.url, "firing").inc(firing)
        ALERTS_SENT.labels(target.url, "resolved").inc(len(plan.alerts) - firing)
        LAST_SUCCESS.labels(target.url).set(time.time())
        with self._lock:
            if target.consecutive_failures:
                log.info("notifier: %s reachable again after %d failed posts", target.url, target.consecutive_failures)
            target.consecutive_failures = 0
            target.last_error = ""
            target.last_success_at = datetime.now(UTC)
            target.last_signature = plan.signature
        return True

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Evaluate every ``evaluation_seconds`` (sooner while a retry is due) until ``stop``."""
        global _running
        _running = self
        log.info("notifier: pushing drift alerts to %s every %g s (re-send %g s)",
                 ", ".join(t.url for t in self._status.targets), self.evaluation_seconds, self.resend_seconds)
        try:
            while not stop.is_set():
                try:
                    self.evaluate()
                except Exception:  # alerting must never stop detection: log and carry on
                    log.exception("notifier: evaluation failed")
                wait = self.evaluation_seconds
                retries = [t.next_attempt_at for t in self._status.targets if t.consecutive_failures]
                if retries:
                    wait = max(0.05, min(wait, min(retries) - time.monotonic()))
                stop.wait(wait)
        finally:
            if _running is self:
                _running = None
