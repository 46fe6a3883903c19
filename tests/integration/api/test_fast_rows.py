"""The hot list endpoints render rows without DRF's per-field machinery: the output must be
exactly what their DRF OutputSerializer renders, value for value, for every edge value."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone as dj_timezone
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st
from rest_framework import serializers

from monitoring_api.apis import (
    DriftEventListApi,
    DriftEventOutputSerializer,
    DriftStatusListApi,
    DriftStatusOutputSerializer,
)
from monitoring_api.rows import row_serializer

T = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
OFFSET = timezone(timedelta(hours=2))

STATUS = {
    "source_id": "host-1", "metric": "cpu", "state": "DRIFTING", "state_since": T, "last_event_time": T,
    "rolling_mean": 1.5, "rolling_std": 0.25, "rolling_count": 12, "baseline_mean": None, "baseline_std": 0.0,
    "z_score": math.inf, "std_ratio": math.nan, "config_version": 3, "updated_at": T, "version": 99,
}
EVENT = {
    "drift_event_id": 2**64 - 1, "source_id": "h", "metric": "m", "event_type": "DRIFT_START",
    "event_time": T.replace(microsecond=0), "detected_at": T.astimezone(OFFSET), "rolling_mean": -0.0,
    "rolling_std": 1e-300, "rolling_count": 0, "baseline_mean": 1e150, "baseline_std": None,
    "z_score": -math.inf, "std_ratio": 2.5, "trigger_event_id": 0, "config_version": 1,
}

finite_or_not = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**60), 2**60))
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2299, 12, 31),
    timezones=st.sampled_from([UTC, OFFSET, ZoneInfo("UTC"), ZoneInfo("Europe/Paris")]),
)


def test_status_and_event_rows_match_the_drf_serializers():
    for api, serializer, row in (
        (DriftStatusListApi, DriftStatusOutputSerializer, STATUS),
        (DriftEventListApi, DriftEventOutputSerializer, EVENT),
    ):
        rows = [row, {**row, "source_id": "other"}]
        fast = api.serialize_rows(rows)
        assert fast == serializer(rows, many=True).data
        assert [list(r) for r in fast] == [list(r) for r in serializer(rows, many=True).data]  # key order too


@given(
    mean=finite_or_not, std=finite_or_not, z=finite_or_not, count=st.integers(0, 2**32 - 1),
    since=times, last=times, state=st.sampled_from(["INITIALIZING", "NORMAL", "DRIFTING"]),
)
@hsettings(max_examples=200, deadline=None)
def test_any_status_row_matches_the_drf_serializer(mean, std, z, count, since, last, state):
    row = {**STATUS, "rolling_mean": mean, "baseline_std": std, "z_score": z, "rolling_count": count,
           "state_since": since, "last_event_time": last, "updated_at": None, "state": state}
    assert DriftStatusListApi.serialize_rows([row]) == DriftStatusOutputSerializer([row], many=True).data


def test_rendering_follows_the_current_time_zone_like_drf():
    rows = [STATUS, {**STATUS, "updated_at": T.astimezone(OFFSET)}]
    with override_settings(TIME_ZONE="Asia/Kolkata"), dj_timezone.override(ZoneInfo("Asia/Kolkata")):
        fast = DriftStatusListApi.serialize_rows(rows)
        assert fast == DriftStatusOutputSerializer(rows, many=True).data
        assert fast[0]["updated_at"] == "2024-05-01T15:30:00.123000+05:30"
    assert DriftStatusListApi.serialize_rows(rows)[1]["updated_at"] == "2024-05-01T10:00:00.123000Z"


def test_unknown_field_types_are_rendered_by_the_field_itself():
    class Odd(serializers.Serializer):
        flag = serializers.BooleanField()
        when = serializers.DateTimeField(format="%Y")
        tags = serializers.ListField(child=serializers.CharField())

    rows = [{"flag": 1, "when": T, "tags": [1, "a"]}]
    assert row_serializer(Odd)(rows) == Odd(rows, many=True).data == [{"flag": True, "when": "2024", "tags": ["1", "a"]}]


def test_fields_with_another_source_are_refused():
    class Renamed(serializers.Serializer):
        name = serializers.CharField(source="other")

    with pytest.raises(ValueError, match="plain read fields"):
        row_serializer(Renamed)


def test_a_remembered_row_is_rendered_once_and_new_rows_fresh():
    serialize = row_serializer(DriftStatusOutputSerializer, memo_rows=2)
    rows = [dict(STATUS), {**STATUS, "source_id": "b"}]
    first = serialize(rows)
    assert serialize(rows) == first and serialize(rows)[0] is first[0]  # shared, not re-rendered
    for n in range(5):  # more rows than the memo holds: it forgets, never mixes rows up
        fresh = [{**STATUS, "source_id": f"s{n}", "rolling_count": n}]
        assert serialize(fresh) == DriftStatusOutputSerializer(fresh, many=True).data
    assert serialize(rows) == first
