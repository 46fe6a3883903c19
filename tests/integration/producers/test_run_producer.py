"""manage.py run_producer against the real broker and Postgres: exact keyed events, faults
counted as requested, sources registered, delivery failures and SIGTERM handled."""

from __future__ import annotations

import datetime as dt
import json
import signal
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from config_app.models import SourceMetadata
from detection.core.events import InvalidEvent, iso_to_ms, kafka_key, parse_event
from producers.signals import make_signal

START = "2030-01-01T00:00:00.000Z"
START_MS = iso_to_ms(START)


def run_producer(*args: str) -> dict:
    out, err = StringIO(), StringIO()
    call_command("run_producer", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["stable", "dynamic", "drift"])
def test_simulated_run_produces_exactly_the_expected_keyed_events(kind, kafka_topic, control_topic, topic_reader):
    sources, metrics, rate, count = 3, ("cpu", "latency_ms"), 10.0, 600
    summary = run_producer(
        "--kind", kind, "--sources", str(sources), "--metrics", ",".join(metrics), "--rate", str(rate),
        "--count", str(count), "--seed", "17", "--simulated-clock", "--start-time", START,
        "--topic", kafka_topic, "--control-topic", control_topic, "--progress-interval", "0.5",
    )
    assert summary["events"] == summary["messages"] == summary["delivered"] == count
    assert summary["delivery_errors"] == 0 and summary["undelivered"] == 0

    messages = topic_reader(kafka_topic).read_count(count)
    assert len(messages) == count
    signal_ = make_signal(kind, 17)
    keys = [(f"{kind}-{i:03d}", m) for i in range(sources) for m in metrics]
    expected = {
        (s, m, START_MS + round((i // len(keys)) * 1000 / rate))
        for i, (s, m) in ((i, keys[i % len(keys)]) for i in range(count))
    }
    partitions = defaultdict(set)
    times = defaultdict(list)
    seen = set()
    for msg in messages:
        event = parse_event(msg.value(), now_ms=None, max_future_skew_ms=0)  # valid JSON event
        assert msg.key() == kafka_key(event.source_id, event.metric)
        assert event.value == signal_.value_at(event.source_id, event.metric, event.event_time_ms)
        partitions[msg.key()].add(msg.partition())
        times[msg.key()].append(event.event_time_ms)
        seen.add((event.source_id, event.metric, event.event_time_ms))
    assert seen == expected
    assert set(partitions) == {kafka_key(s, m) for s, m in keys}
    assert all(len(p) == 1 for p in partitions.values()), "a key spread over partitions"
    assert all(t == sorted(t) and len(t) == count // len(keys) for t in times.values())

    registered = dict(SourceMetadata.objects.filter(source_id__startswith=f"{kind}-").values_list("source_id", "source_type"))
    assert registered == {f"{kind}-{i:03d}": kind for i in range(sources)}


@pytest.mark.django_db
def test_registration_retypes_known_sources_and_keeps_what_the_detector_saw(kafka_topic):
    seen = dt.datetime(2029, 12, 31, tzinfo=dt.timezone.utc)
    SourceMetadata.objects.create(source_id="lab-000", source_type="other", first_seen=seen, last_seen=seen, active=False)
    run_producer("--kind", "dynamic", "--source-prefix", "lab", "--sources", "2", "--count", "4",
                 "--simulated-clock", "--topic", kafka_topic)
    rows = {r.source_id: r for r in SourceMetadata.objects.filter(source_id__startswith="lab-")}
    assert set(rows) == {"lab-000", "lab-001"}
    assert rows["lab-000"].source_type == "dynamic" and rows["lab-000"].active
    assert rows["lab-000"].first_seen == seen and rows["lab-000"].last_seen == seen
    assert rows["lab-001"].source_type == "dynamic" and rows["lab-001"].first_seen is None


@pytest.mark.django_db
def test_injected_faults_reach_the_broker_as_counted(kafka_topic, topic_reader):
    count = 3000
    summary = run_producer(
        "--kind", "stable", "--sources", "2", "--metrics", "cpu", "--rate", "20", "--count", str(count),
        "--simulated-clock", "--start-time", START, "--seed", "3", "--topic", kafka_topic,
        "--duplicate-rate", "0.03", "--out-of-order-rate", "0.03", "--late-rate", "0.02", "--malformed-rate", "0.02",
    )
    total = count + summary["duplicates"] + summary["malformed_total"]
    assert summary["messages"] == summary["delivered"] == total
    messages = topic_reader(kafka_topic).read_count(total)
    assert len(messages) == total

    valid, reasons = [], Counter()
    for msg in messages:
        try:
            valid.append((msg, parse_event(msg.value(), now_ms=None, max_future_skew_ms=0)))
        except InvalidEvent as exc:
            reasons[exc.reason] += 1
    ids = Counter(event.event_id for _, event in valid)
    assert len(ids) == count
    assert sum(n - 1 for n in ids.values()) == summary["duplicates"] > 0
    assert sum(reasons.values()) == summary["malformed_total"] > 0
    assert {"not_json", "missing_field:value", "not_finite", "bad_event_time", "too_large"} >= set(reasons)
    assert max(len(m.value()) for m in messages) > 100_000  # the huge payload made it through Kafka

    newest, behind = {}, []
    for msg, event in valid:  # one partition per key: arrival order is produce order
        last = newest.get(msg.key(), -1)
        if event.event_time_ms < last:
            behind.append(last - event.event_time_ms)
        newest[msg.key()] = max(last, event.event_time_ms)
    held = summary["out_of_order"] + summary["late"]
    assert held - 2 <= len(behind) <= held
    assert any(lag > 30_000 for lag in behind) and any(lag <= 3_000 for lag in behind)


@pytest.mark.django_db
def test_exits_nonzero_when_the_broker_never_acknowledges():
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "run_producer", "--kind", "stable", "--sources", "1", "--count", "3", "--simulated-clock",
            "--bootstrap-servers", "127.0.0.1:1", "--delivery-timeout", "1", "--no-register",
            stdout=StringIO(), stderr=StringIO(),
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "stable", "--simulated-clock"], "needs --count or --duration"),
        (["--kind", "stable", "--start-time", START, "--count", "1"], "only applies with --simulated-clock"),
        (["--kind", "stable", "--simulated-clock", "--count", "1", "--start-time", "2030-01-01T00:00:00"], "no UTC offset"),
        (["--kind", "stable", "--rate", "0", "--count", "1"], "rate_per_key"),
        (["--kind", "stable", "--sources", "0", "--count", "1"], "--sources"),
        (["--kind", "drift", "--count", "1", "--control-topic", "no.such.topic", "--no-register"], "not usable"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_producer", *args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_flushes_and_exits_zero(kafka_topic, topic_reader, manage_py):
    proc = manage_py("run_producer", "--kind", "stable", "--sources", "2", "--metrics", "cpu", "--rate", "50",
                     "--duration", "600", "--topic", kafka_topic, "--progress-interval", "0.2")
    reader = topic_reader(kafka_topic)
    reader.read_count(40, timeout=60)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert summary["delivered"] == summary["messages"] == summary["events"] >= 40
    assert "delivery_errors=0" in stderr and "msg/s" in stderr  # progress lines
    messages = reader.read_count(summary["messages"])
    assert len(messages) == summary["messages"]
    assert SourceMetadata.objects.filter(source_id__in=["stable-000", "stable-001"], source_type="stable").count() == 2
