"""Operations on one object outside a sync run: `sync-assets reset` and `sync-assets status`.

A reset forgets the state stored with the target (watermarks, fingerprints; all of them or
one partition's) and marks those keys for a full refresh, so the next run replaces what they
hold with everything the source has: a watermark object does not append its rows twice. The
state is written through the target's own atomic state commit (an empty append), and the
reset is recorded as an observation of the asset.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType
from dagster._utils.schedules import cron_string_iterator

from sync_assets.config.models import ProjectConfig, SyncObject
from sync_assets.connection_types import make_target
from sync_assets.partitions import key_window, partitions_def
from sync_assets.specs import asset_key
from sync_assets.state import WHOLE, SyncState
from sync_assets.targets.base import WritePlan


class OperationError(ValueError):
    """An operation that cannot run as asked (unknown object or partition, no table yet)."""


def find_object(project: ProjectConfig, object_id: str) -> SyncObject:
    for obj in project.sync_objects:
        if obj.object_id == object_id:
            return obj
    known = ", ".join(o.object_id for o in project.sync_objects)
    raise OperationError(f"unknown object_id '{object_id}' (known: {known})")


def reset(
    project: ProjectConfig, base_dir: str, object_id: str, partition: str | None = None
) -> dict:
    """Clear `object_id`'s stored state (or one partition's) so its next run is a full
    refresh; returns what was reset (also the observation's metadata)."""
    obj = find_object(project, object_id)
    keys, start, end = _reset_keys(obj, partition)
    target = make_target(obj, project.connections[obj.target.connection], base_dir)
    schema = target.arrow_schema()
    if schema is None:
        raise OperationError(
            f"object_id '{object_id}': {target.uri} does not exist yet; its first run is a full load"
        )
    with target.writer_lock():  # not while a run of the object is between state and commit
        before = SyncState.from_dict(target.read_state())
        after = before.reset(keys, start, end)
        empty = pa.RecordBatchReader.from_batches(schema, iter(()))
        target.write(
            empty,
            WritePlan("append", state_only=True, state_seen=target.seen_state),
            after.to_dict(),
        )
    done = {
        "sync/reset": partition or "all partitions" if obj.partition else "table",
        "sync/reset_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sync/reset_watermarks": len(before.watermarks) - len(after.watermarks),
        "sync/reset_fingerprints": len(before.fingerprints) - len(after.fingerprints),
    }
    dg.DagsterInstance.get().report_runless_asset_event(
        dg.AssetObservation(asset_key(obj, project), partition=partition, metadata=done)
    )
    return done


def _reset_keys(obj: SyncObject, partition: str | None):
    """(keys, start, end) a reset clears: the table, every partition, or one."""
    if not obj.partition:
        if partition:
            raise OperationError(
                f"object_id '{obj.object_id}' is not partitioned: drop --partition"
            )
        return [WHOLE], None, None
    pdef = partitions_def(obj.partition)
    if partition is None:
        keys = pdef.get_partition_keys()
        first, _ = key_window(obj.partition, keys[0])
        _, last = key_window(obj.partition, keys[-1])
        return keys, first, last
    if not pdef.has_partition_key(partition):
        raise OperationError(
            f"object_id '{obj.object_id}': '{partition}' is not one of its partition keys "
            f"({pdef.get_first_partition_key()} ... {pdef.get_last_partition_key()})"
        )
    return [partition], *key_window(obj.partition, partition)


def status(project: ProjectConfig, base_dir: str, defs: dg.Definitions) -> list[dict]:
    """Per object (seed 003's sync-status): its last sync, the watermark or version stored
    with the target, its rows, and the next tick of each of its schedules."""
    instance = dg.DagsterInstance.get()
    running = _running_schedules(instance)
    rows = []
    for obj in project.sync_objects:
        key = asset_key(obj, project)
        event = instance.get_latest_materialization_event(key)
        meta = {}
        if event is not None:
            meta = {
                k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()
            }
        target = make_target(obj, project.connections[obj.target.connection], base_dir)
        state = SyncState.from_dict(_state_or_none(target))
        rows.append(
            {
                "object_id": obj.object_id,
                "sync_type": meta.get("sync/sync_type", obj.sync_type),
                "last_sync": _when(event),
                "strategy": meta.get("sync/strategy"),
                "watermark": _highest(state) if state.watermarks else None,
                "rows": meta.get(
                    "dagster/row_count",
                    meta.get("dagster/partition_row_count", meta.get("sync/range_row_count")),
                ),
                "pending_refresh": len(state.refresh),
                "next": _next_ticks(defs, obj, running),
            }
        )
    return rows


def _state_or_none(target) -> dict | None:
    try:
        return target.read_state()
    except Exception:  # noqa: BLE001 - an unreachable target shows as no state
        return None


def _highest(state: SyncState) -> str:
    values = [str(v) for v in state.watermarks.values() if v is not None]
    return max(values) if values else "-"


def _when(event) -> str | None:
    if event is None:
        return None
    stamp = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
    return stamp.isoformat(timespec="seconds")


def _running_schedules(instance) -> set[str]:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    return {s.name for s in states if s.status == InstigatorStatus.RUNNING}


def _next_ticks(defs: dg.Definitions, obj: SyncObject, running: set[str]) -> list[str]:
    """ "<when> (<schedule>, running|stopped)" for each schedule of the object."""
    now = dt.datetime.now(dt.UTC)
    ticks = []
    for unresolved in defs.schedules or []:
        if not unresolved.name.startswith(f"sync_{obj.object_id}_"):
            continue
        schedule = defs.resolve_schedule_def(unresolved.name)
        crons = schedule.cron_schedule
        cron = crons if isinstance(crons, str) else crons[0]
        tz = schedule.execution_timezone or "UTC"
        upcoming = next(t for t in cron_string_iterator(now.timestamp(), cron, tz) if t > now)
        state = "running" if schedule.name in running else "stopped"
        ticks.append(f"{upcoming.isoformat(timespec='minutes')} ({schedule.name}, {state})")
    return ticks
