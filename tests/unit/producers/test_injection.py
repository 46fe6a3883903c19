"""Fault injection: seeded decisions at the requested rates; malformed payloads the event
contract rejects for the intended reason."""

from __future__ import annotations

import pytest

from detection.core.events import InvalidEvent, parse_event
from producers.injection import MALFORMED_KINDS, InjectionRates, Injector, malformed_payload


def decisions(rates, seed, n):
    injector = Injector(rates, seed)
    return [injector.decide() for _ in range(n)]


def test_no_rates_means_no_faults():
    assert not InjectionRates().any
    assert all(d.hold_ms == 0 and not d.duplicate and d.malformed is None for d in decisions(InjectionRates(), 1, 1000))


def test_decisions_are_reproducible_by_seed():
    rates = InjectionRates(duplicate=0.1, out_of_order=0.1, late=0.05, malformed=0.1)
    assert decisions(rates, 3, 2000) == decisions(rates, 3, 2000)
    assert decisions(rates, 3, 2000) != decisions(rates, 4, 2000)


def test_faults_come_at_the_requested_rates_and_delays():
    rates = InjectionRates(duplicate=0.1, out_of_order=0.2, late=0.05, malformed=0.1)
    ds = decisions(rates, 7, 20_000)
    n = len(ds)
    assert sum(d.duplicate for d in ds) / n == pytest.approx(0.1, abs=0.01)
    ooo = [d for d in ds if d.held_as == "out_of_order"]
    late = [d for d in ds if d.held_as == "late"]
    assert len(ooo) / n == pytest.approx(0.2, abs=0.012)
    assert len(late) / n == pytest.approx(0.05, abs=0.006)
    assert sum(d.malformed is not None for d in ds) / n == pytest.approx(0.1, abs=0.01)
    assert all(500 <= d.hold_ms <= 3000 for d in ooo)
    assert all(30_000 <= d.hold_ms <= 60_000 for d in late)
    assert not any(d.duplicate and d.hold_ms for d in ds)  # one fault per event
    assert {d.malformed for d in ds if d.malformed} == set(MALFORMED_KINDS)


@pytest.mark.parametrize(
    "bad",
    [dict(duplicate=-0.1), dict(malformed=1.5), dict(late=float("nan")),
     dict(duplicate=0.5, out_of_order=0.4, late=0.2), dict(late_min_seconds=0), dict(out_of_order_max_seconds=0.1)],
)
def test_bad_rates_are_refused(bad):
    with pytest.raises(ValueError):
        InjectionRates(**bad)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("not_json", "not_json"), ("missing_field", "missing_field:value"), ("not_finite", "not_finite"),
     ("bad_event_time", "bad_event_time"), ("too_large", "too_large")],
)
def test_malformed_payloads_are_rejected_by_the_event_contract(kind, reason):
    payload = malformed_payload(kind, "stable-000", "cpu", 12.5, 1_700_000_000_000)
    with pytest.raises(InvalidEvent) as info:
        parse_event(payload, now_ms=None, max_future_skew_ms=0)
    assert info.value.reason == reason


def test_too_large_payload_is_about_100_kb():
    assert 100_000 < len(malformed_payload("too_large", "s", "m", 1.0, 0)) < 101_000
