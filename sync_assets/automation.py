"""Jobs and schedules from each object's `frequency` (or each of its `strategies`)."""

from __future__ import annotations

import dagster as dg

from sync_assets.config.models import SyncObject
from sync_assets.partitions import partitions_def

CRONS = {
    "continuous": "*/5 * * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
}


def cron_for(frequency: str) -> str:
    return CRONS.get(frequency, frequency)


STRATEGY_TAG = "sync/strategy"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


STRATEGY_TAG = "sync/strategy"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def schedules_for(
    objects: list[SyncObject], keys: dict[str, dg.AssetKey]
) -> list[dg.ScheduleDefinition]:
    """One stopped-by-default schedule per object with a frequency, or per enabled strategy
    with one (its runs carry the strategy's name in the `sync/strategy` tag)."""
    schedules = []
    for obj in objects:
        cadences = _cadences(obj)
        if not cadences:
            continue
        for name, frequency, tags in cadences:
            # a job per schedule: Dagster copies a schedule's job with it, and two copies of
            # one job would be two definitions of the same name
            job = dg.define_asset_job(
                name.removesuffix("_schedule"),
                selection=dg.AssetSelection.assets(keys[obj.object_id]),
            )
            if obj.partition and obj.partition.is_range:
                schedules.append(_every_range(name, job, obj, frequency, tags))
            elif obj.partition:
                # partitioned objects run their latest complete partition at the partition
                # cadence (the frequency is checked to be that cadence)
                schedules.append(dg.build_schedule_from_partitioned_job(job, name=name, tags=tags))
            else:
                schedules.append(
                    dg.ScheduleDefinition(
                        name=name, job=job, cron_schedule=cron_for(frequency), tags=tags
                    )
                )
    return schedules


def _every_range(name: str, job, obj: SyncObject, frequency: str, tags: dict):
    """A schedule whose ticks sync every integer range of `obj` in one run (the ranges have
    no cadence of their own)."""
    keys = partitions_def(obj.partition).get_partition_keys()
    ranged = {RANGE_START: keys[0], RANGE_END: keys[-1], **tags}

    def every_range(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(run_key=None, tags=ranged)

    return dg.ScheduleDefinition(
        name=name, job=job, cron_schedule=cron_for(frequency), execution_fn=every_range, tags=tags
    )


def _cadences(obj: SyncObject) -> list[tuple[str, str, dict]]:
    """(schedule name, frequency, run tags) of each schedule of `obj`."""
    if obj.strategies:
        return [
            (f"sync_{obj.object_id}_{s.name}_schedule", s.frequency, {STRATEGY_TAG: s.name})
            for s in obj.strategies
            if s.enabled and s.frequency
        ]
    return [(f"sync_{obj.object_id}_schedule", obj.frequency, {})] if obj.frequency else []


def unpartitioned_job(objects: list[SyncObject], keys: dict[str, dg.AssetKey]):
    """`sync_unpartitioned`: every unpartitioned object in one run."""
    selected = [keys[o.object_id] for o in objects if not o.partition]
    if not selected:
        return None
    return dg.define_asset_job("sync_unpartitioned", selection=dg.AssetSelection.assets(*selected))
