"""Jobs and schedules from each object's `frequency` (or each of its `strategies`), and the
automation condition sensors of objects declared with `automation: eager | on_cron`."""

from __future__ import annotations

import dataclasses

import dagster as dg

from sync_assets.config.frequency import WEEKDAYS, Frequency
from sync_assets.config.models import SyncObject
from sync_assets.partitions import partitions_def

STRATEGY_TAG = "sync/strategy"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def status(enabled: bool) -> dg.DefaultScheduleStatus:
    """Schedules start stopped unless the config says `enabled: true`."""
    return dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED


def sensor_status(enabled: bool) -> dg.DefaultSensorStatus:
    """Sensors too (change, automation, run history, semantic model detection)."""
    return dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED


def schedules_for(
    objects: list[SyncObject], keys: dict[str, dg.AssetKey]
) -> list[dg.ScheduleDefinition]:
    """A schedule per object with a clock frequency, or per strategy with one (its runs
    carry the strategy's name in the `sync/strategy` tag); stopped unless `enabled: true`."""
    schedules = []
    for obj in objects:
        for cadence in _cadences(obj):
            # a job per schedule: Dagster copies a schedule's job with it, and two copies of
            # one job would be two definitions of the same name
            job = dg.define_asset_job(
                cadence.name.removesuffix("_schedule"),
                selection=dg.AssetSelection.assets(keys[obj.object_id]),
            )
            schedules.append(_schedule(obj, job, cadence))
    return schedules


@dataclasses.dataclass(frozen=True)
class Cadence:
    """One schedule of an object: its name, frequency, run tags and whether it runs."""

    name: str
    frequency: Frequency
    tags: dict
    enabled: bool


def _cadences(obj: SyncObject) -> list[Cadence]:
    """Each schedule of `obj` (continuous frequencies are sensors, not schedules)."""
    if obj.automation != "schedule":
        return []
    if obj.strategies:
        found = [
            Cadence(
                f"sync_{obj.object_id}_{s.name}_schedule",
                s.frequency,
                {STRATEGY_TAG: s.name},
                obj.enabled if s.enabled is None else s.enabled,
            )
            for s in obj.strategies
            if s.enabled is not False and s.frequency
        ]
    elif obj.frequency:
        found = [Cadence(f"sync_{obj.object_id}_schedule", obj.frequency, {}, obj.enabled)]
    else:
        found = []
    return [c for c in found if c.frequency.every != "continuous"]


def _schedule(obj: SyncObject, job, cadence: Cadence):
    freq, part = cadence.frequency, obj.partition
    if part and not part.is_range:
        return _partition_schedule(obj, job, cadence)
    execution_fn = _every_range(obj, cadence.tags) if part else None
    return dg.ScheduleDefinition(
        name=cadence.name,
        job=job,
        cron_schedule=freq.cron(),
        execution_timezone=freq.timezone or "UTC",
        execution_fn=execution_fn,
        tags=cadence.tags,
        default_status=status(cadence.enabled),
    )


def _every_range(obj: SyncObject, tags: dict):
    """Ticks that sync every integer range of `obj` in one run (ranges have no cadence)."""
    keys = partitions_def(obj.partition).get_partition_keys()
    ranged = {RANGE_START: keys[0], RANGE_END: keys[-1], **tags}

    def every_range(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(run_key=None, tags=ranged)

    return every_range


def _partition_schedule(obj: SyncObject, job, cadence: Cadence):
    """The newest complete time partition at the partition cadence (its tick placed by the
    frequency's `at`, `days`, `day`), or the newest `sync_latest_partitions` of them in one
    run, for rows that arrive late."""
    freq = cadence.frequency
    hour, minute = freq.hour_minute
    place = {
        "minute_of_hour": minute,
        "hour_of_day": hour if freq.every != "hourly" else None,
        "day_of_week": WEEKDAYS[freq.days[0]] if freq.days else None,
        "day_of_month": freq.day,
    }
    place = {k: v for k, v in place.items() if v is not None}
    n = obj.sync_latest_partitions
    if n == 1:
        return dg.build_schedule_from_partitioned_job(
            job,
            name=cadence.name,
            tags=cadence.tags,
            default_status=status(cadence.enabled),
            **place,
        )
    pdef = partitions_def(obj.partition)

    def latest(context: dg.ScheduleEvaluationContext):
        keys = pdef.get_partition_keys(current_time=context.scheduled_execution_time)[-n:]
        if not keys:
            return dg.SkipReason("no complete partition yet")
        return dg.RunRequest(
            run_key=None, tags={RANGE_START: keys[0], RANGE_END: keys[-1], **cadence.tags}
        )

    return dg.ScheduleDefinition(
        name=cadence.name,
        job=job,
        cron_schedule=pdef.get_cron_schedule(**place),
        execution_timezone=pdef.timezone,
        execution_fn=latest,
        tags=cadence.tags,
        default_status=status(cadence.enabled),
    )


def unpartitioned_job(objects: list[SyncObject], keys: dict[str, dg.AssetKey]):
    """`sync_unpartitioned`: every unpartitioned object in one run."""
    selected = [keys[o.object_id] for o in objects if not o.partition]
    if not selected:
        return None
    return dg.define_asset_job("sync_unpartitioned", selection=dg.AssetSelection.assets(*selected))


def automation_condition(obj: SyncObject, external: list[dg.AssetKey]):
    """The object's AutomationCondition (None with `automation: schedule`). Dependencies in
    `external` (source tables that no sync object writes) are ignored: Dagster records no
    update of them unless their producer reports one, and waiting for it would never sync."""
    if obj.automation == "on_cron":
        freq = obj.frequency
        zone = freq.timezone or (obj.partition.timezone if obj.partition else "UTC")
        condition = dg.AutomationCondition.on_cron(freq.cron(), zone)
    elif obj.automation == "eager":
        condition = dg.AutomationCondition.eager()
    else:
        return None
    return condition.ignore(dg.AssetSelection.assets(*external)) if external else condition


def automation_sensors(
    objects: list[SyncObject], keys: dict[str, dg.AssetKey]
) -> list[dg.AutomationConditionSensorDefinition]:
    """One automation condition sensor per object with `automation: eager | on_cron`, so
    each can be turned on and off alone (running from the start with `enabled: true`)."""
    return [
        dg.AutomationConditionSensorDefinition(
            f"sync_{obj.object_id}_automation",
            target=dg.AssetSelection.assets(keys[obj.object_id]),
            default_status=sensor_status(obj.enabled),
            minimum_interval_seconds=30,
        )
        for obj in objects
        if obj.automation != "schedule"
    ]
