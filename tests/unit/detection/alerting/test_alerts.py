"""The pure alert builder: drift state in, Alertmanager API v2 alerts out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detection.alerting.alerts import (
    ALERTNAME,
    KeyContext,
    alerts_build,
    dashboard_key_url,
    key_method,
    recent_ends_pair,
    rfc3339,
)

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
DASH = "http://dash.example:8000"


def status_row(source_id="drift-000", metric="cpu", since=NOW - timedelta(seconds=30), **extra):
    return {"source_id": source_id, "metric": metric, "state": "DRIFTING", "state_since": since, "z_score": 4.25,
            "std_ratio": 1.1, "baseline_mean": 50.0, "baseline_std": 5.0, "rolling_mean": 71.25, **extra}


def end_row(source_id="drift-000", metric="cpu", end=NOW - timedelta(seconds=5), start=NOW - timedelta(seconds=60)):
    return {"source_id": source_id, "metric": metric, "event_type": "DRIFT_END", "event_time": end, "started_at": start,
            "z_score": 0.5, "std_ratio": 1.0, "baseline_mean": 50.0, "baseline_std": 5.0, "rolling_mean": 52.5}


def context(source_id, metric):
    return KeyContext(severity="critical" if metric == "cpu" else "warning", source_type="drift",
                      z_threshold=2.0, std_ratio_threshold=2.5)


def build(drifting=(), ends=(), previously=None):
    return alerts_build(drifting, ends, context_for=context, now=NOW, resend_seconds=15, dashboard_url=DASH,
                        previously_firing=previously)


def test_a_drifting_key_is_a_firing_alert_with_the_documented_labels_and_annotations():
    plan = build([status_row()])
    [alert] = plan.payload()
    assert alert["labels"] == {"alertname": ALERTNAME, "source_id": "drift-000", "metric": "cpu", "method": "zscore",
                               "severity": "critical", "source_type": "drift"}
    assert alert["startsAt"] == "2026-12-01T11:59:30.000Z"  # the DRIFT_START event time
    assert alert["endsAt"] == "2026-12-01T12:01:00.000Z"  # now + 4 x resend: expires if not re-sent
    assert alert["generatorURL"] == "http://dash.example:8000/dashboard/key/drift-000/cpu/"
    annotations = alert["annotations"]
    assert annotations["z_score"] == "4.25" and annotations["std_ratio"] == "1.1"
    assert annotations["baseline_mean"] == "50" and annotations["baseline_std"] == "5"
    assert annotations["statistic"] == "z=4.25 std_ratio=1.1"
    assert annotations["threshold"] == "z > 2 or std_ratio outside [0.4, 2.5]"
    assert annotations["dashboard_url"] == alert["generatorURL"]
    assert plan.firing == {("drift-000", "cpu"): NOW - timedelta(seconds=30)}


def test_a_recent_end_is_a_resolved_alert_ending_at_the_drift_end_event_time():
    [alert] = build(ends=[end_row()]).payload()
    assert alert["startsAt"] == rfc3339(NOW - timedelta(seconds=60))
    assert alert["endsAt"] == rfc3339(NOW - timedelta(seconds=5))
    assert alert["labels"]["source_id"] == "drift-000"


def test_a_key_drifting_again_is_only_firing_not_also_resolved():
    plan = build([status_row()], [end_row()])
    assert [a["endsAt"] > rfc3339(NOW) for a in plan.payload()] == [True]


def test_duplicate_rows_of_a_key_give_one_alert():
    assert len(build([status_row(), status_row()]).alerts) == 1


def test_times_are_never_after_now_so_alertmanager_accepts_them():
    future = NOW + timedelta(seconds=90)
    [firing] = build([status_row(since=future)]).payload()
    assert firing["startsAt"] == rfc3339(NOW)
    [resolved] = build(ends=[end_row(end=future, start=future - timedelta(seconds=1))]).payload()
    assert resolved["endsAt"] == rfc3339(NOW) and resolved["startsAt"] <= resolved["endsAt"]


def test_an_end_without_its_start_starts_and_ends_at_the_end():
    [alert] = build(ends=[end_row(start=None)]).payload()
    assert alert["startsAt"] == alert["endsAt"]


def test_a_key_sent_as_firing_that_vanished_is_resolved_now_once():
    previously = {("drift-009", "mem"): NOW - timedelta(minutes=2)}
    plan = build(previously=previously)
    [alert] = plan.payload()
    assert (alert["labels"]["source_id"], alert["endsAt"]) == ("drift-009", rfc3339(NOW))
    assert plan.orphans == previously and plan.firing == {}
    # a key still drifting or recently ended is not an orphan
    assert build([status_row()], previously={("drift-000", "cpu"): NOW}).orphans == {}


def test_the_signature_changes_when_an_alert_starts_or_ends_not_when_it_is_re_sent():
    firing = build([status_row()])
    later = alerts_build([status_row()], [], context_for=context, now=NOW + timedelta(seconds=7), resend_seconds=15,
                         dashboard_url=DASH)
    assert firing.signature == later.signature
    assert build(ends=[end_row()]).signature != firing.signature


def test_method_comes_from_the_row_when_present_else_zscore():
    assert key_method({}) == "zscore"
    assert key_method({"method": "cusum"}) == "cusum"
    [alert] = build([status_row(method="cusum", statistic=7.5, threshold=5.0)]).payload()
    assert alert["labels"]["method"] == "cusum"
    assert (alert["annotations"]["statistic"], alert["annotations"]["threshold"]) == ("7.5", "5")


def test_missing_or_non_finite_scores_read_n_a():
    [alert] = build([status_row(z_score=None, std_ratio=float("nan"))]).payload()
    assert alert["annotations"]["z_score"] == "n/a" and alert["annotations"]["std_ratio"] == "n/a"


def test_dashboard_url_quotes_the_key():
    assert dashboard_key_url("http://h/", "a b/c", "m%") == "http://h/dashboard/key/a%20b%2Fc/m%25/"


def test_recent_ends_keep_keys_whose_latest_transition_is_an_end_with_its_start():
    t = NOW - timedelta(minutes=5)
    events = [
        {"source_id": "a", "metric": "m", "event_type": "DRIFT_END", "event_time": t + timedelta(seconds=60)},
        {"source_id": "a", "metric": "m", "event_type": "DRIFT_START", "event_time": t},
        {"source_id": "b", "metric": "m", "event_type": "DRIFT_START", "event_time": t + timedelta(seconds=90)},
        {"source_id": "b", "metric": "m", "event_type": "DRIFT_END", "event_time": t + timedelta(seconds=30)},
        {"source_id": "c", "metric": "m", "event_type": "DRIFT_END", "event_time": t},
    ]
    pairs = {(r["source_id"], r["started_at"]) for r in recent_ends_pair(events)}
    assert pairs == {("a", t), ("c", None)}  # b drifts again: not ended
