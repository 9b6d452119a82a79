"""Time-window partitions: from a PartitionSpec to Dagster's partitions definition and back."""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg

from sync_assets.config.models import PartitionSpec

_DEFINITIONS = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime(value.year, value.month, value.day)


@cache
def partitions_def(spec: PartitionSpec) -> dg.TimeWindowPartitionsDefinition:
    """The Dagster partitions definition for a spec (keys are Dagster's default formats)."""
    kwargs = {"start_date": _as_datetime(spec.start), "timezone": spec.timezone}
    if spec.end:
        kwargs["end_date"] = _as_datetime(spec.end)
    return _DEFINITIONS[spec.granularity](**kwargs)


def key_window(spec: PartitionSpec, key: str) -> tuple[dt.datetime, dt.datetime]:
    """The half-open [start, end) of one partition key, as aware datetimes."""
    window = partitions_def(spec).time_window_for_partition_key(key)
    return window.start, window.end


def range_keys(spec: PartitionSpec, first: str, last: str) -> tuple[str, ...]:
    """Every key from `first` to `last` inclusive."""
    pdef = partitions_def(spec)
    return tuple(pdef.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
