"""Partitions: from a PartitionSpec to Dagster's partitions definition and back.

Time windows are Dagster's time-window partitions. Integer ranges (`step`) are static
partitions named "<lo>-<hi>" (inclusive, like SyncHub's partition_step ranges), each the
half-open window [lo, lo + step) of the column.
"""

from __future__ import annotations

import datetime as dt
import re
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


_RANGE_KEY = re.compile(r"^(-?\d+)-(-?\d+)$")


@cache
def partitions_def(spec: PartitionSpec) -> dg.PartitionsDefinition:
    """The Dagster partitions definition for a spec (keys are Dagster's default formats)."""
    if spec.is_range:
        lows = range(spec.start, spec.end, spec.step)
        return dg.StaticPartitionsDefinition([f"{lo}-{lo + spec.step - 1}" for lo in lows])
    kwargs = {"start_date": _as_datetime(spec.start), "timezone": spec.timezone}
    if spec.end:
        kwargs["end_date"] = _as_datetime(spec.end)
    return _DEFINITIONS[spec.granularity](**kwargs)


def key_window(spec: PartitionSpec, key: str) -> tuple[dt.datetime, dt.datetime]:
    """The half-open [start, end) of one partition key, as aware datetimes (integers for
    integer ranges)."""
    if spec.is_range:
        match = _RANGE_KEY.match(key)
        if not match:
            raise ValueError(f"'{key}' is not an integer range key like 0-{spec.step - 1}")
        return int(match.group(1)), int(match.group(2)) + 1
    window = partitions_def(spec).time_window_for_partition_key(key)
    return window.start, window.end


def keys_window(spec: PartitionSpec, keys) -> tuple:
    """The [start, end) a run of consecutive `keys` covers."""
    return key_window(spec, keys[0])[0], key_window(spec, keys[-1])[1]


def range_keys(spec: PartitionSpec, first: str, last: str) -> tuple[str, ...]:
    """Every key from `first` to `last` inclusive."""
    pdef = partitions_def(spec)
    return tuple(pdef.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
