"""manage.py update_baselines: the same fold by hand, with a printed summary."""

from __future__ import annotations

from io import StringIO

import pytest
from tests.integration.baselines.baseline_support import T0_MS, Event
from django.core.management import CommandError, call_command

from config_app.models import BaselineStats

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("update_baselines", *args, stdout=out)
    return out.getvalue()


def test_command_folds_and_prints_a_summary(raw_events):
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS), Event(2, "host-1", "cpu", 3.0, T0_MS)],
                      ingest_ms=T0_MS + 1000)

    text = run("--until", "2024-01-01T00:01:05Z")  # default safety lag: 5 s

    assert "1 keys updated, 2 events folded" in text
    assert "none -> 2024-01-01T00:01:00+00:00" in text
    assert text.rstrip().endswith(" s")
    assert BaselineStats.objects.get().count == 2
    assert "already folded" in run("--until", "2024-01-01T00:01:05Z", "--safety-lag-seconds", "5")


def test_command_rebuild_replaces_the_stats(raw_events):
    BaselineStats.objects.create(source_id="host-1", metric="cpu", count=99, mean=50.0, m2=1.0)
    raw_events.insert([Event(1, "host-1", "cpu", 1.0, T0_MS)], ingest_ms=T0_MS + 1000)

    text = run("--until", "2024-01-01T01:01:00+01:00", "--rebuild", "--safety-lag-seconds", "0")

    assert text.startswith("update_baselines: rebuilt: 1 keys updated, 1 events folded")
    assert BaselineStats.objects.get().count == 1


def test_command_rejects_a_time_without_offset(raw_events):
    with pytest.raises(CommandError, match="offset"):
        run("--until", "2024-01-01T00:00:00")
    with pytest.raises(CommandError, match="ISO-8601"):
        run("--until", "yesterday")
