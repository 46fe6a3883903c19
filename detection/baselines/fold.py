"""The baseline fold with ClickHouse as its event store.

:mod:`config_app.services.baselines` owns the fold's PostgreSQL side and takes the event store
as a :class:`~config_app.services.baselines.SliceReader`; this module supplies ClickHouse's
(:mod:`detection.clickhouse.aggregates`). Every caller (``manage.py update_baselines``, the
embedded stack's scheduler, the Airflow DAG, run_stack's fold endpoint) folds through here.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from config_app.services import baselines
from config_app.services.baselines import FoldResult
from detection.clickhouse import aggregates
from detection.clickhouse.client import get_client
from detection.core.slices import KeyMoments


class ClickHouseSlices:
    """:class:`~config_app.services.baselines.SliceReader` over ``raw_events`` and ``drift_events``.

    The client is taken when the fold first asks, i.e. only after the fold-state row is locked
    and only if the interval has not been folded yet.
    """

    def __init__(self, client=None, database: str | None = None) -> None:
        self._client = client
        self.database = database or settings.CLICKHOUSE_DATABASE

    @property
    def client(self):
        if self._client is None:
            self._client = get_client()
        return self._client

    def keys(self, *, after_ms: int | None, until_ms: int) -> list[tuple[str, str]]:
        return aggregates.slice_keys(self.client, database=self.database, after_ms=after_ms, until_ms=until_ms)

    def moments(
        self, *, after_ms: int | None, until_ms: int, excluded_keys: list[tuple[str, str]],
    ) -> list[KeyMoments]:
        return aggregates.slice_moments(
            self.client, database=self.database, after_ms=after_ms, until_ms=until_ms, excluded_keys=excluded_keys
        )


def baseline_fold(
    *, until: datetime, safety_lag_seconds: float | None = None, rebuild: bool = False, run_id: str = "",
) -> FoldResult:
    """:func:`config_app.services.baselines.baseline_fold` over this process's ClickHouse."""
    return baselines.baseline_fold(
        until=until, slices=ClickHouseSlices(), safety_lag_seconds=safety_lag_seconds, rebuild=rebuild, run_id=run_id
    )


def baseline_fold_for_run(*, until: datetime, run_id: str) -> dict:
    """:func:`config_app.services.baselines.baseline_fold_for_run` over this process's ClickHouse."""
    return baselines.baseline_fold_for_run(until=until, run_id=run_id, slices=ClickHouseSlices())
