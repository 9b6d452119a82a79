"""Change sensors: for objects with `frequency: continuous` or `trigger: on_change`, a sensor
that asks the source whether it moved past the state stored with the target and requests a
sync only then.

The check is the sync's own plan, without the write: the object's strategy probes the source
inside its engine (max(sync_column) beyond the stored watermark, the Change Tracking current
version, the Delta table version, or count + fingerprint for full syncs; for `hash`, the hash
comparison) against the state read from the target, and says "skip" when nothing moved. So
the sensor and the run can never disagree about what a change is.

One run per change: the run key is a hash of the stored state, the state the run would
commit and the asset's latest materialization, so repeated ticks for the same change request
nothing new (Dagster drops a run key it has seen), and no request is made while a sync of the
object is queued or running (that run reads the change when it starts, or the next tick after
it finishes sees what it missed). A failed run is retried by `retries:`; the sensor requests
again when the source moves again or the asset is materialized.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, RunsFilter

from sync_assets.automation import sensor_status
from sync_assets.config.models import ProjectConfig, SyncObject
from sync_assets.connection_types import make_source, make_target
from sync_assets.secrets import connection_secrets, redact
from sync_assets.state import SyncState
from sync_assets.strategies import plan_sync


def change_sensors(
    project: ProjectConfig, base_dir: str, keys: dict[str, dg.AssetKey]
) -> list[dg.SensorDefinition]:
    """A change sensor per active object that watches its source."""
    return [
        change_sensor(obj, project, base_dir, keys[obj.object_id])
        for obj in project.active_objects()
        if obj.watches_source
    ]


def change_sensor(
    obj: SyncObject, project: ProjectConfig, base_dir: str, key: dg.AssetKey
) -> dg.SensorDefinition:
    """`sync_<object_id>_on_change`: checks every `check_interval_s` seconds (stopped unless
    `enabled: true`)."""
    name = f"sync_{obj.object_id}_on_change"
    job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(key))

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=obj.check_interval_s,
        default_status=sensor_status(obj.enabled),
        description=f"Syncs {obj.object_id} when its source moved past the stored state",
    )
    def on_change(context: dg.SensorEvaluationContext):
        if _in_progress(context.instance, key):
            return dg.SkipReason(f"a sync of {obj.object_id} is queued or running")
        change = source_change(obj, project, base_dir)
        if change is None:
            return dg.SkipReason(f"{obj.object_id}: the source has not moved past the stored state")
        latest = context.instance.fetch_materializations(key, limit=1).records
        change["after_materialization"] = latest[0].storage_id if latest else None
        run_key = hashlib.sha256(json.dumps(change, sort_keys=True).encode()).hexdigest()[:20]
        context.update_cursor(run_key)
        return dg.RunRequest(run_key=run_key, tags={"sync/change": change["reason"][:200]})

    return on_change


def source_change(obj: SyncObject, project: ProjectConfig, base_dir: str) -> dict | None:
    """What the next sync of `obj` would read (None: the source has not moved past the
    state stored with the target). Plans the sync and writes nothing."""
    source_conn = project.connections[obj.source.connection]
    target_conn = project.connections[obj.target.connection]
    secrets = connection_secrets(source_conn) + connection_secrets(target_conn)
    run_obj = obj.variant(obj.default_strategy)
    try:
        target = make_target(run_obj, target_conn, base_dir)
        state = SyncState.from_dict(target.read_state())
        batch = plan_sync(run_obj, make_source(source_conn, base_dir), state, None, target)
    except Exception as exc:
        message = f"object_id '{obj.object_id}': checking the source for changes failed: {exc}"
        raise RuntimeError(redact(message, secrets)) from None
    try:
        if batch.skip_reason:
            return None
        return {
            "reason": f"{batch.plan.mode} from {obj.source.connection}"
            + (f" up to {batch.watermark}" if batch.watermark is not None else ""),
            "stored": state.to_json(),
            "next": batch.state.to_json(),
            "watermark": str(batch.watermark),
        }
    finally:
        batch.close()


def _in_progress(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    """Whether a queued or running run materializes `key`."""
    runs = instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES), limit=200)
    return any(key in (run.asset_selection or ()) for run in runs)
