"""Jobs and schedules from each object's `frequency`."""

from __future__ import annotations

import dagster as dg

from sync_assets.config.models import SyncObject

CRONS = {
    "continuous": "*/5 * * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
}


def cron_for(frequency: str) -> str:
    return CRONS.get(frequency, frequency)


def schedules_for(
    objects: list[SyncObject], keys: dict[str, dg.AssetKey]
) -> list[dg.ScheduleDefinition]:
    """One stopped-by-default schedule per object with a frequency."""
    schedules = []
    for obj in objects:
        if not obj.frequency:
            continue
        job = dg.define_asset_job(
            f"sync_{obj.object_id}", selection=dg.AssetSelection.assets(keys[obj.object_id])
        )
        if obj.partition:
            # partitioned objects run their latest complete partition at the partition cadence
            schedules.append(
                dg.build_schedule_from_partitioned_job(job, name=f"sync_{obj.object_id}_schedule")
            )
        else:
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"sync_{obj.object_id}_schedule",
                    job=job,
                    cron_schedule=cron_for(obj.frequency),
                )
            )
    return schedules


def unpartitioned_job(objects: list[SyncObject], keys: dict[str, dg.AssetKey]):
    """`sync_unpartitioned`: every unpartitioned object in one run."""
    selected = [keys[o.object_id] for o in objects if not o.partition]
    if not selected:
        return None
    return dg.define_asset_job("sync_unpartitioned", selection=dg.AssetSelection.assets(*selected))
