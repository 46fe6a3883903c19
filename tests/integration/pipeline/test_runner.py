"""StreamRunner on its own, on the real broker: when it commits, and what it never commits."""

from __future__ import annotations

import threading

import pytest

from detection.stream.runner import FlushFailed, StreamRunner
from driftsite.polling import wait_until
from tests.integration.pipeline.conftest import produce
from tests.integration.pipeline.faults import InjectedFault, committed


class Recorder:
    """A handler that records the calls it gets; ``fail_flushes`` makes that many flushes raise."""

    def __init__(self, *, fail_flushes: int = 0, fail_process: bool = False) -> None:
        self.fail_flushes = fail_flushes
        self.fail_process = fail_process
        self.buffered: list[tuple[int, int]] = []
        self.written: list[tuple[int, int]] = []
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def process_batch(self, messages):
        if self.fail_process:
            raise ValueError("a bug in processing")
        self.buffered.extend((m.partition(), m.offset()) for m in messages)

    def flush(self, next_offsets):
        if not self.buffered and not next_offsets:
            return
        self.calls.append("flush")
        if self.fail_flushes:
            self.fail_flushes -= 1
            raise InjectedFault("injected write failure")
        self.written.extend(self.buffered)
        self.buffered = []

    def assigned(self, consumer, partitions):
        self.calls.append("assigned")

    def revoked(self, partitions):
        self.calls.append("revoked")

    def discard(self, partitions):
        self.calls.append("discard")
        self.buffered = []

    def idle(self):
        pass

    def close(self):
        self.calls.append("close")


def _runner(bootstrap, topic, group, handler, **kwargs):
    options = {"max_events": 50, "max_seconds": 0.05, "backoff_initial": 0.05, "backoff_max": 0.2, **kwargs}
    return StreamRunner(
        consumer_config={"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 6000},
        topics=[topic], handler=handler, name=group, **options,
    )


def _run(runner):
    stop = threading.Event()
    box = {}

    def target():
        try:
            runner.run(stop)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return stop, thread, box


def _messages(n):
    return [(f"k{i % 7}".encode(), f"m{i}".encode()) for i in range(n)]


@pytest.fixture
def group(kafka_topic):
    return f"runner-{kafka_topic}"


def test_a_failing_flush_is_retried_and_nothing_is_committed_until_it_succeeds(kafka_bootstrap, kafka_topic, group):
    produce(kafka_bootstrap, kafka_topic, _messages(120))
    handler = Recorder(fail_flushes=3)
    runner = _runner(kafka_bootstrap, kafka_topic, group, handler)
    stop, thread, box = _run(runner)
    wait_until(lambda: handler.calls.count("flush") >= 2, timeout=30, what="a failed flush")
    assert committed(kafka_bootstrap, group, kafka_topic) == {}
    wait_until(lambda: runner.committed_messages == 120, timeout=30, what="all committed after the retries")
    stop.set()
    thread.join(30)
    assert "error" not in box
    assert runner.flush_failures == 3
    assert len(set(handler.written)) == len(handler.written) == 120  # each message written once
    assert sum(committed(kafka_bootstrap, group, kafka_topic).values()) == 120


def test_a_flush_that_never_succeeds_gives_up_without_committing(kafka_bootstrap, kafka_topic, group):
    produce(kafka_bootstrap, kafka_topic, _messages(40))
    handler = Recorder(fail_flushes=10**6)
    runner = _runner(kafka_bootstrap, kafka_topic, group, handler, retry_seconds=1.0)
    stop, thread, box = _run(runner)
    thread.join(30)
    assert isinstance(box.get("error"), FlushFailed)
    assert committed(kafka_bootstrap, group, kafka_topic) == {}
    assert handler.calls[-2:] == ["discard", "close"]  # close() revoked without a flush or commit
    assert handler.written == []


def test_an_error_while_processing_commits_nothing(kafka_bootstrap, kafka_topic, group):
    produce(kafka_bootstrap, kafka_topic, _messages(40))
    handler = Recorder(fail_process=True)
    runner = _runner(kafka_bootstrap, kafka_topic, group, handler)
    stop, thread, box = _run(runner)
    thread.join(30)
    assert isinstance(box.get("error"), ValueError)
    assert committed(kafka_bootstrap, group, kafka_topic) == {}
    assert "flush" not in handler.calls and "discard" in handler.calls


def test_kill_stops_like_a_crash_no_flush_no_commit(kafka_bootstrap, kafka_topic, group):
    produce(kafka_bootstrap, kafka_topic, _messages(60))
    handler = Recorder()
    runner = _runner(kafka_bootstrap, kafka_topic, group, handler, max_events=10_000, max_seconds=3600)
    stop, thread, box = _run(runner)
    wait_until(lambda: len(handler.buffered) == 60, timeout=30, what="a batch processed, not flushed")
    runner.kill()
    thread.join(30)
    assert committed(kafka_bootstrap, group, kafka_topic) == {}
    assert handler.written == [] and "flush" not in handler.calls


def test_revoke_flushes_commits_then_drops_state(kafka_bootstrap, kafka_topic, group):
    produce(kafka_bootstrap, kafka_topic, _messages(90))
    first = Recorder()
    runner = _runner(kafka_bootstrap, kafka_topic, group, first, max_events=10_000, max_seconds=3600)
    stop, thread, box = _run(runner)
    wait_until(lambda: len(first.buffered) == 90, timeout=30, what="a batch processed, not flushed")
    # A second member joins: the first must write its open batch and commit it before giving
    # up its partitions, so the newcomer starts after it and nothing is read twice.
    second = Recorder()
    runner2 = _runner(kafka_bootstrap, kafka_topic, group, second)
    stop2, thread2, box2 = _run(runner2)
    wait_until(lambda: "revoked" in first.calls, timeout=60, what="a rebalance")
    i = first.calls.index("revoked")
    assert first.calls[i - 1] == "flush"
    assert len(set(first.written)) == len(first.written) == 90
    assert sum(committed(kafka_bootstrap, group, kafka_topic).values()) == 90
    for s, t in ((stop, thread), (stop2, thread2)):
        s.set()
        t.join(30)
    assert second.written == []  # nothing was read twice
