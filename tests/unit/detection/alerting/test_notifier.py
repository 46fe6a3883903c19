"""The notifier's bookkeeping: when it posts, its backoff, what it remembers.

Delivery itself is tested against the real Alertmanager in
tests/integration/alerting/test_notifier_alertmanager.py; here ``post`` is a recording
function so the decisions can be checked exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detection.alerting.alertmanager import AlertmanagerError, AlertmanagerRejected
from detection.alerting.alerts import KeyContext, rfc3339
from detection.alerting.notifier import AlertNotifier


class Post:
    def __init__(self):
        self.calls: list[list[dict]] = []
        self.fail: Exception | None = None

    def __call__(self, url, alerts, timeout):
        self.calls.append(alerts)
        if self.fail is not None:
            raise self.fail


def drifting_row(source_id="drift-000"):
    return {"source_id": source_id, "metric": "cpu", "state_since": datetime.now(UTC) - timedelta(seconds=5),
            "z_score": 3.0, "std_ratio": 1.0}


@pytest.fixture
def state():
    return {"drifting": [drifting_row()], "ends": []}


@pytest.fixture
def post():
    return Post()


@pytest.fixture
def notifier(state, post):
    return AlertNotifier(urls=["http://am:9093"], read_drifting=lambda: list(state["drifting"]),
                         read_recent_ends=lambda since: list(state["ends"]),
                         load_context=lambda: (lambda source_id, metric: KeyContext()),
                         dashboard_url="http://dash", resend_seconds=3600, evaluation_seconds=1, post=post)


def test_posts_at_once_then_only_on_a_change_or_after_the_resend_interval(notifier, state, post):
    notifier.evaluate()
    notifier.evaluate()
    assert len(post.calls) == 1  # nothing changed, resend interval not reached
    state["drifting"].append(drifting_row("drift-001"))
    notifier.evaluate()
    assert len(post.calls) == 2 and len(post.calls[-1]) == 2


def test_a_failed_post_backs_off_and_recovers(notifier, post):
    post.fail = AlertmanagerError("connection refused")
    notifier.evaluate()
    target = notifier.status().targets[0]
    assert target.consecutive_failures == 1 and "refused" in target.last_error
    notifier.evaluate()  # the 1 s backoff has not passed: no new attempt
    assert len(post.calls) == 1
    notifier._status.targets[0].next_attempt_at = 0  # the backoff has passed
    post.fail = None
    notifier.evaluate()
    assert len(post.calls) == 2 and notifier.status().targets[0].consecutive_failures == 0
    assert notifier.status().healthy


def test_a_rejected_post_is_not_retried_as_an_outage(notifier, post):
    post.fail = AlertmanagerRejected("HTTP 400: bad label")
    notifier.evaluate()
    assert notifier.status().targets[0].consecutive_failures == 0
    notifier.evaluate()
    assert len(post.calls) == 1


def test_a_vanished_firing_key_is_resolved_until_delivered(notifier, state, post):
    notifier.evaluate()
    state["drifting"].clear()  # e.g. its threshold row was disabled: no DRIFT_END
    post.fail = AlertmanagerError("down")
    notifier.evaluate()
    notifier._status.targets[0].next_attempt_at = 0
    post.fail = None
    notifier.evaluate()
    resolved = post.calls[-1]
    assert [a["labels"]["source_id"] for a in resolved] == ["drift-000"]
    assert resolved[0]["endsAt"] <= rfc3339(datetime.now(UTC))
    notifier._status.targets[0].last_attempt_at = -1e9  # resend due: the orphan is forgotten now
    notifier.evaluate()
    assert post.calls[-1] == []


def test_a_failing_read_is_reported_and_does_not_post(notifier, post):
    def broken():
        raise OSError("ClickHouse is gone")

    notifier.read_drifting = broken
    notifier.evaluate()
    assert post.calls == [] and "ClickHouse is gone" in notifier.status().last_evaluation_error
    assert not notifier.status().healthy
