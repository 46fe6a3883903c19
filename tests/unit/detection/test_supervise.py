"""Supervision: a failing part restarts with backoff; one that keeps failing stops the process."""

from __future__ import annotations

import threading

from detection.stream import health as stream_health
from detection.wiring import SupervisionPolicy, supervise

FAST = SupervisionPolicy(max_restarts=3, window_seconds=60, initial_backoff=0.01, max_backoff=0.02)


def test_a_part_that_fails_twice_is_restarted_and_the_others_keep_running():
    stop = threading.Event()
    starts = {"flaky": 0, "steady": 0}

    def flaky(stop_event):
        starts["flaky"] += 1
        if starts["flaky"] <= 2:
            raise ConnectionError("store away")
        stop_event.set()  # third start works; end the test run

    def steady(stop_event):
        starts["steady"] += 1
        stop_event.wait()

    errors = supervise([("flaky", flaky), ("steady", steady)], stop, FAST)
    assert errors == []
    assert starts == {"flaky": 3, "steady": 1}
    assert stream_health.components()["flaky"].restarts == 2


def test_a_part_that_keeps_failing_stops_everything_and_is_reported():
    stop = threading.Event()

    def broken(stop_event):
        raise RuntimeError("always")

    def steady(stop_event):
        stop_event.wait()

    errors = supervise([("broken", broken), ("steady", steady)], stop, FAST)
    assert len(errors) == 1 and str(errors[0]) == "always"
    assert stop.is_set()
    component = stream_health.components()["broken"]
    assert component.state == stream_health.DOWN and "always" in component.detail


def test_a_part_returning_on_its_own_counts_as_a_failure():
    stop = threading.Event()
    errors = supervise([("quitter", lambda s: None)], stop, FAST)
    assert len(errors) == 1 and "returned without being asked to stop" in str(errors[0])
