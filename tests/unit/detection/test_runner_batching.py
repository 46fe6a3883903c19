"""StreamRunner's batch timing, with a scripted consumer (the broker cases are in
tests/integration/pipeline/test_runner.py)."""

from __future__ import annotations

import time

from detection.stream import runner as runner_module
from detection.stream.runner import StreamRunner


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self):
        return None

    def topic(self):
        return "t"

    def partition(self):
        return 0

    def offset(self):
        return self._offset


class _ScriptedConsumer:
    """consume() blocks for its whole timeout, as librdkafka's batch consume does when fewer
    than num_messages arrive, then returns the next scripted batch."""

    def __init__(self, batches: list[int]) -> None:
        self.batches = batches
        self.timeouts: list[float] = []
        self.commits: list[int] = []
        self._next = 0

    def consume(self, num_messages: int, timeout: float):
        self.timeouts.append(timeout)
        time.sleep(timeout)  # stands for the blocking call
        n = self.batches.pop(0) if self.batches else 0
        messages = [_Message(self._next + i) for i in range(n)]
        self._next += n
        return messages

    def commit(self, offsets, asynchronous):
        self.commits.append(offsets[0].offset)


class _Handler:
    def __init__(self) -> None:
        self.flushes = 0

    def process_batch(self, messages) -> None:
        pass

    def flush(self, next_offsets) -> None:
        self.flushes += 1

    def idle(self) -> None:
        pass


def _runner(monkeypatch, consumer, handler, *, max_seconds: float, poll_seconds: float) -> StreamRunner:
    monkeypatch.setattr(runner_module, "Consumer", lambda config: consumer)
    return StreamRunner(consumer_config={"group.id": "unit"}, topics=["t"], handler=handler, max_events=10_000,
                        max_seconds=max_seconds, poll_seconds=poll_seconds)


def test_a_batch_closes_after_the_poll_that_brought_its_first_messages(monkeypatch):
    """The first messages may have waited since that poll began, so the batch's age counts from
    there: one poll of max_seconds makes a whole batch (not two, as when counted from its return)."""
    consumer, handler = _ScriptedConsumer([5, 5, 5]), _Handler()
    runner = _runner(monkeypatch, consumer, handler, max_seconds=0.02, poll_seconds=0.5)
    for _ in range(3):
        runner.run_once()
    assert handler.flushes == 3
    assert consumer.commits == [5, 10, 15]
    assert all(timeout <= 0.02 for timeout in consumer.timeouts)  # never the 0.5 s idle poll


def test_an_open_batch_never_waits_past_its_deadline(monkeypatch):
    consumer, handler = _ScriptedConsumer([5]), _Handler()
    runner = _runner(monkeypatch, consumer, handler, max_seconds=10.0, poll_seconds=0.01)
    runner.run_once()  # opens a batch that is young: not flushed
    assert handler.flushes == 0
    runner._batch_started -= 9.995  # the batch is now 5 ms from its deadline
    runner.run_once()
    assert consumer.timeouts[1] <= 0.006
    assert handler.flushes == 1 and consumer.commits == [5]
