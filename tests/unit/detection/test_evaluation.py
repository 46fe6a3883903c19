"""Matching of detections to injected drifts (pure)."""

from detection.evaluation import DetectedStart, InjectedDrift, evaluate, format_report

TYPES = {"d-1": "drift", "d-2": "drift", "s-1": "stable", "y-1": "dynamic"}


def drift(source_id, start, end, metric="cpu"):
    return InjectedDrift(source_id, metric, TYPES[source_id], "mean_shift", 4.0, start, end)


def start(source_id, t, metric="cpu"):
    return DetectedStart(source_id, metric, t, t + 200)


def test_detected_missed_false_and_repeated_starts():
    truth = [drift("d-1", 10_000, 70_000), drift("d-2", 20_000, 50_000)]
    starts = [
        start("d-1", 5_000),     # before the injection: a false start
        start("d-1", 18_000),    # the detection, 8 s after
        start("d-1", 40_000),    # again during the same drift: repeated, not false
        start("s-1", 30_000),    # a stable source: false start
        start("d-2", 95_000),    # after d-2's end + grace: a false start, and d-2 is missed
    ]
    report = evaluate(truth, starts, source_types=TYPES, grace_ms=30_000)
    totals = report.totals()
    assert totals == {
        "injected": 2, "detected": 1, "missed": 1, "false_starts": 3, "repeated_starts": 1,
        "median_delay_seconds": 8.0, "events_produced": None, "events_processed": None,
    }
    assert report.by_kind["drift"] == {"injected": 2, "detected": 1, "missed": 1, "false_starts": 2}
    assert report.by_kind["stable"]["false_starts"] == 1
    assert [o.detected for o in report.outcomes] == [True, False]
    assert report.outcomes[0].detection_lag_seconds == 8.2


def test_a_start_within_grace_after_the_stop_counts_and_open_drifts_match_anything_later():
    truth = [drift("d-1", 0, 10_000), drift("d-2", 0, None)]
    report = evaluate(truth, [start("d-1", 35_000), start("d-2", 500_000)], source_types=TYPES, grace_ms=30_000)
    assert report.totals()["detected"] == 2 and report.totals()["false_starts"] == 0


def test_false_starts_after_the_range_are_left_out_and_the_report_formats():
    report = evaluate([], [start("y-1", 1_000), start("y-1", 9_000)], source_types=TYPES, grace_ms=0,
                      false_starts_before_ms=5_000)
    assert [s.event_time_ms for s, _ in report.false_starts] == [1_000]
    lines = format_report(report.as_dict())
    assert "false starts: 1" in lines and any("dynamic" in line for line in lines)
