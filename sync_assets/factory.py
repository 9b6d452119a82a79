"""The asset factory: one SyncObject in, one partitioned AssetsDefinition out.

The spec (key, group, kinds, tags, partitions, backfill policy, pool) is derived from the
config alone; execution plans the sync against the source and the target's stored state
and hands a lazy SyncBatch to the target connection's IO manager.
"""



from contextlib import contextmanager

import dagster as dg

from sync_assets.config.models import ProjectConfig, SyncObject
from sync_assets.connection_types import default_schema, kind_of, make_source, target_schema
from sync_assets.io_managers import SyncError, SyncIOManager
from sync_assets.partitions import partitions_def
from sync_assets.strategies import Window, plan_sync
from sync_assets.secrets import connection_secrets, redact
from sync_assets.state import SyncState



def io_manager_key(connection_name: str) -> str:
    return f"sync_io_{connection_name}"


def asset_key(obj: SyncObject, project: ProjectConfig) -> dg.AssetKey:
    """`<target connection>/<target schema>/<target object>`."""
    conn = project.connections[obj.target.connection]
    return dg.AssetKey([obj.target.connection, target_schema(obj, conn), obj.target.object])


def writer_id(obj: SyncObject, project: ProjectConfig) -> str:
    """What may have only one writer at a time: a DuckDB file, else one table."""
    if project.connections[obj.target.connection].type == "duckdb":
        return obj.target.connection
    return "/".join(asset_key(obj, project).path)


def upstream_keys(obj: SyncObject, project: ProjectConfig) -> list[dg.AssetKey]:
    """Assets whose target table is this object's source table: lineage in the UI, and the
    order of steps when both are materialized in one run (e.g. lakehouse -> CDF -> warehouse)."""
    src = obj.source
    if src.query:
        return []
    keys = []
    for other in project.active_objects():
        conn = project.connections[other.target.connection]
        if other is obj or other.target.connection != src.connection or other.target.object != src.object:
            continue
        if target_schema(other, conn) == (src.schema_ or default_schema(conn)):
            keys.append(asset_key(other, project))
    return keys


def _backfill_policy(obj: SyncObject) -> dg.BackfillPolicy | None:
    if not obj.partition:
        return None
    n = obj.backfill.max_partitions_per_run
    # A range is one streamed query and one slice replace, so a single run stays bounded in
    # memory; single_run is also what `dagster asset materialize --partition-range` requires.
    return dg.BackfillPolicy.multi_run(n) if n else dg.BackfillPolicy.single_run()


def build_asset(obj: SyncObject, project: ProjectConfig, base_dir: str) -> dg.AssetsDefinition:
    """The Dagster asset that keeps `obj`'s target in sync with its source."""
    source_conn = project.connections[obj.source.connection]
    target_conn = project.connections[obj.target.connection]
    io_key = io_manager_key(obj.target.connection)
    writer = writer_id(obj, project)

    @dg.asset(
        key=asset_key(obj, project),
        description=obj.description or obj.name or f"{obj.sync_type} sync {obj.object_id}",
        group_name=obj.group or obj.source.connection,
        kinds={kind_of(source_conn), kind_of(target_conn)},
        tags={"sync/object_id": obj.object_id, "sync/sync_type": obj.sync_type},
        metadata={"sync/object_id": obj.object_id, "sync/source": _source_label(obj), "sync/config_file": project.sources.get(obj.object_id, "")},
        deps=upstream_keys(obj, project),
        partitions_def=partitions_def(obj.partition) if obj.partition else None,
        backfill_policy=_backfill_policy(obj),
        io_manager_key=io_key,
        required_resource_keys={io_key},
        pool=_pool_name(writer),
    )
    def _sync(context: dg.AssetExecutionContext):
        iom: SyncIOManager = getattr(context.resources, io_key)
        target = iom.target_for(obj)
        window = None
        if obj.partition:
            tw = context.partition_time_window
            window = Window(tw.start, tw.end, tuple(context.partition_keys))
        secrets = connection_secrets(source_conn) + connection_secrets(target_conn)
        with _naming_failures(obj, window, "reading the target's sync state", secrets):
            state = SyncState.from_dict(target.read_state())
        with _naming_failures(obj, window, "reading the source", secrets):
            batch = plan_sync(obj, make_source(source_conn, base_dir), state, window, target)
        context.log.info(batch.skip_reason or f"{obj.object_id}: {batch.plan.mode} from {_source_label(obj)}")
        return batch

    return _sync


@contextmanager
def _naming_failures(obj: SyncObject, window, step: str, secrets):
    """Re-raise any error as a SyncError naming the object, the partitions and the step."""
    try:
        yield
    except Exception as exc:
        where = f", partitions {window.keys[0]}...{window.keys[-1]}" if window else ""
        message = f"object_id '{obj.object_id}'{where}: {step} failed: {type(exc).__name__}: {exc}"
        raise SyncError(redact(message, secrets)) from exc


def _source_label(obj: SyncObject) -> str:
    src = obj.source
    return f"{src.connection}: query" if src.query else f"{src.connection}: {'.'.join(p for p in (src.schema_, src.object) if p)}"


def _pool_name(writer: str) -> str:
    return "sync_" + "".join(c if c.isalnum() else "_" for c in writer)
