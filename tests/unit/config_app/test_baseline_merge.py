"""The baseline fold's merge math, pure: batch moments as ClickHouse returns them, Chan-merged.

ClickHouse hands each batch over as (count, mean, M2 = varPopStable * count); the fold merges
it into the stored (count, mean, M2) with detection.core.moments.merge. Whatever way a sample
is cut into batches (and in whatever order they arrive), the result must be the whole sample's:
count exact, mean to 1e-9 and sample std to 1e-6 relative, also around 1e9.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from config_app.services.baselines import FoldResult, _from_ms
from detection.core.events import datetime_to_ms as _to_ms
from detection.core.moments import merge, sample_std

EXAMPLES = settings(deadline=None, max_examples=200)


def batch_moments(values: list[float]) -> tuple[int, float, float]:
    """What the aggregate query returns for one batch: count, mean, population variance * count."""
    array = np.asarray(values, dtype=np.float64)
    return array.size, float(array.mean()), float(array.var() * array.size)


def exact(values: list[float]) -> tuple[int, float, float]:
    """count, mean, sample std with rational arithmetic (exact up to the final rounding)."""
    fractions = [Fraction(v) for v in values]
    n = len(fractions)
    mean = sum(fractions) / n
    m2 = sum((x - mean) ** 2 for x in fractions)
    return n, float(mean), math.sqrt(float(m2 / (n - 1))) if n > 1 else 0.0


@st.composite
def sample_in_batches(draw):
    offset = draw(st.sampled_from([0.0, 1.0, -250.0, 1e6, 1e9, -1e9]))
    scale = draw(st.sampled_from([1e-2, 1.0, 1e3]))
    assume(scale >= abs(offset) * 1e-9)  # below that, rounding each batch mean to a double dominates
    n = draw(st.integers(1, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = (offset + scale * rng.normal(size=n)).tolist()
    cuts = sorted(draw(st.lists(st.integers(1, n), max_size=15)))
    batches = [values[a:b] for a, b in zip([0, *cuts], [*cuts, n]) if b > a]
    order = draw(st.permutations(range(len(batches))))
    return values, [batches[i] for i in order]


def fold(batches, start=(0, 0.0, 0.0)):
    count, mean, m2 = start
    for batch in batches:
        count, mean, m2 = merge(count, mean, m2, *batch_moments(batch))
    return count, mean, m2


def assert_whole(values, count, mean, m2):
    want_count, want_mean, want_std = exact(values)
    assert count == want_count
    assert mean == pytest.approx(want_mean, rel=1e-9, abs=1e-12)
    assert sample_std(count, m2) == pytest.approx(want_std, rel=1e-6, abs=1e-12)


@EXAMPLES
@given(sample_in_batches())
def test_any_split_into_batches_gives_the_whole_sample(case):
    values, batches = case
    assert_whole(values, *fold(batches))


@EXAMPLES
@given(sample_in_batches(), st.integers(1, 3))
def test_a_stored_baseline_keeps_its_weight(case, stored_batches):
    """The first batches become the stored row; later folds merge into it, never reset it."""
    values, batches = case
    stored = fold(batches[:stored_batches])
    assert_whole(values, *fold(batches[stored_batches:], start=stored))


def test_first_batch_is_the_first_baseline():
    assert merge(0, 0.0, 0.0, *batch_moments([1.0, 2.0, 4.0])) == batch_moments([1.0, 2.0, 4.0])


def test_large_offset_with_unit_noise_over_many_batches():
    rng = np.random.default_rng(1)
    values = (1e9 + rng.normal(size=100_000)).tolist()
    batches = [values[i:i + 997] for i in range(0, len(values), 997)]
    count, mean, m2 = fold(batches)
    assert count == 100_000
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert sample_std(count, m2) == pytest.approx(np.std(values, ddof=1), rel=1e-6)


@pytest.mark.parametrize(
    "value, ms",
    [
        (datetime(2024, 1, 1, tzinfo=UTC), 1_704_067_200_000),
        (datetime(2024, 1, 1, 0, 0, 0, 1999, tzinfo=UTC), 1_704_067_200_001),  # floored, never rounded up
        (datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), 1_704_067_200_000),
        (datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), -1),
    ],
)
def test_times_cross_to_clickhouse_as_floored_epoch_milliseconds(value, ms):
    assert _to_ms(value) == ms
    assert _from_ms(ms) <= value < _from_ms(ms + 1)


def test_airflow_pendulum_times_are_accepted():
    pendulum = pytest.importorskip("pendulum")  # Airflow passes data_interval_end as a pendulum DateTime
    assert _to_ms(pendulum.datetime(2024, 1, 1, tz="UTC") - timedelta(seconds=5)) == 1_704_067_195_000


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        _to_ms(datetime(2024, 1, 1))


def test_summary_names_keys_events_watermark_and_seconds():
    hwm = datetime(2024, 1, 1, tzinfo=UTC)
    text = FoldResult(keys_updated=3, events_folded=10, high_water_mark=hwm, previous_high_water_mark=None,
                      seconds=0.25).summary()
    assert text == "folded: 3 keys updated, 10 events folded, high-water mark none -> 2024-01-01T00:00:00+00:00, 0.250 s"
    assert FoldResult(0, 0, hwm, hwm).skipped
