"""The fast cases of the fault suite (`make chaos`, issue #10), asserting its invariants.

Real processes against the real services: ``run_stack`` with a private topic, groups and chDB
directory, the worktree's Kafka and PostgreSQL (pytest's test database). The slow cases
(broker restart, PostgreSQL outage, ten kill -9 runs, fail-over) run only in ``make chaos``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chaos_context(tmp_path, kafka_bootstrap):
    from chaos.__main__ import base_env
    from chaos.cases import Context
    from chaos.harness import Kafka

    ctx = Context(base_env=base_env(), workdir=tmp_path, kafka=Kafka(kafka_bootstrap), seed=20261201)
    yield ctx
    ctx.cleanup()


def test_every_poison_class_is_dead_lettered_without_a_crash_or_a_lost_valid_event(chaos_context):
    from chaos.cases import poison_case

    figures, _ = poison_case(chaos_context)
    assert figures["classes"] >= 40
    assert figures == {"classes": figures["classes"], "dead_lettered": figures["classes"], "crashes": 0, "valid_lost": 0}


def test_hostile_requests_and_generated_cases_never_get_a_5xx(chaos_context):
    from chaos.api_fuzz import api_fuzz
    from chaos.poison import valid_events

    run = chaos_context.run("fuzz", batch_max_events=500)
    chaos_context.kafka.produce(run.topic, valid_events())
    run.start()
    assert run.run_until_caught_up(timeout=120, max_restarts=0)
    figures = api_fuzz(run.base_url, hostile_limit=300, max_examples=5)
    assert run.stop() == 0
    assert figures["requests"] >= 300
    assert figures["status_5xx"] == 0


def test_kill9_mid_scenario_then_restart_stores_every_event_once_and_the_same_transitions(chaos_context):
    from chaos.cases import kill9_case

    figures = kill9_case(chaos_context, kills=1, keys=6, events_per_key=1500)
    assert figures == {"runs": 1, "transitions_equal": True, "raw_events_lost": 0, "raw_events_duplicated": 0}
