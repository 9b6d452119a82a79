"""The asset spec of a sync object as a value, derived from the config alone.

`spec_for(obj, project)` is pure: key, group, kinds, tags, partitions, code version, lineage
(deps), `dagster/table_name`, automation condition and freshness policy; `backfill_policy_for` and `pool_for` give the two facts the
asset definition takes beside its spec. `source_specs(project)` are the external assets of the
source tables that no sync object writes, so the lineage graph reads source -> target.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath

import dagster as dg

from sync_assets.automation import automation_condition
from sync_assets.config.models import ProjectConfig, SyncObject
from sync_assets.connection_types import default_schema, kind_of, target_schema
from sync_assets.partitions import partitions_def


def asset_key(obj: SyncObject, project: ProjectConfig) -> dg.AssetKey:
    """`<target connection>/<target schema>/<target object>`."""
    conn = project.connections[obj.target.connection]
    return dg.AssetKey([obj.target.connection, target_schema(obj, conn), obj.target.object])


def source_key(obj: SyncObject, project: ProjectConfig) -> dg.AssetKey | None:
    """`<source connection>/<source schema>/<source object>` (None for a query source): the
    same shape as target keys, so a table one object writes and another reads is one asset."""
    src = obj.source
    if src.query:
        return None
    return dg.AssetKey(
        [
            src.connection,
            src.schema_ or default_schema(project.connections[src.connection]),
            src.object,
        ]
    )


def produced_keys(project: ProjectConfig) -> set[dg.AssetKey]:
    return {asset_key(o, project) for o in project.active_objects()}


def code_version(obj: SyncObject, project: ProjectConfig) -> str:
    """A hash of the object's effective config (defaults filled in) and of the kinds of its
    connections: it changes when what the asset does changes, not when a secret rotates."""
    facts = {
        "object": obj.model_dump(mode="json", by_alias=True),
        "source": _shape(project.connections[obj.source.connection]),
        "target": _shape(project.connections[obj.target.connection]),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _shape(connection) -> dict:
    return {"type": connection.type, "flavor": getattr(connection, "flavor", None)}


def table_name(obj: SyncObject, project: ProjectConfig) -> str:
    """The target table's fully qualified name: database.schema.table where the system has
    databases (a DuckDB file's catalog is its file name), schema.table otherwise."""
    conn = project.connections[obj.target.connection]
    database = getattr(conn, "database", None)
    if conn.type == "duckdb":
        database = PurePosixPath(conn.path).stem
    parts = [database, target_schema(obj, conn), obj.target.object]
    return ".".join(p for p in parts if p)


def spec_for(obj: SyncObject, project: ProjectConfig) -> dg.AssetSpec:
    """The Dagster asset spec of one sync object."""
    source_conn = project.connections[obj.source.connection]
    target_conn = project.connections[obj.target.connection]
    src = source_key(obj, project)
    produced = produced_keys(project)
    return dg.AssetSpec(
        key=asset_key(obj, project),
        description=obj.description or obj.name or f"{obj.sync_type} sync {obj.object_id}",
        group_name=obj.group or obj.source.connection,
        kinds={kind_of(source_conn), kind_of(target_conn)},
        tags={"sync/object_id": obj.object_id, "sync/sync_type": obj.sync_type},
        metadata={
            "sync/object_id": obj.object_id,
            "sync/source": source_label(obj),
            "sync/config_file": project.sources.get(obj.object_id, ""),
            "dagster/table_name": table_name(obj, project),
        },
        deps=[src] if src and src != asset_key(obj, project) else [],
        partitions_def=partitions_def(obj.partition) if obj.partition else None,
        code_version=code_version(obj, project),
        automation_condition=automation_condition(
            obj, [src] if src and src not in produced else []
        ),
        freshness_policy=freshness_policy(obj),
    )


def freshness_policy(obj: SyncObject) -> dg.FreshnessPolicy | None:
    """`freshness:` as Dagster's FreshnessPolicy (the UI shows the asset fresh or stale)."""
    spec = obj.freshness
    if spec is None:
        return None
    if spec.deadline:
        return dg.FreshnessPolicy.cron(
            deadline_cron=spec.deadline, lower_bound_delta=spec.max_lag, timezone=spec.timezone
        )
    return dg.FreshnessPolicy.time_window(fail_window=spec.max_lag, warn_window=spec.warn_lag)


def source_specs(project: ProjectConfig) -> list[dg.AssetSpec]:
    """External assets for the source tables no sync object writes (one per table)."""
    produced = produced_keys(project)
    specs: dict[dg.AssetKey, dg.AssetSpec] = {}
    for obj in project.active_objects():
        key = source_key(obj, project)
        if key is None or key in produced or key in specs:
            continue
        conn = project.connections[obj.source.connection]
        specs[key] = dg.AssetSpec(
            key=key,
            description=f"Source table {'.'.join(key.path[1:])} on connection '{obj.source.connection}'",
            group_name=obj.group or obj.source.connection,
            kinds={kind_of(conn)},
            metadata={"dagster/table_name": ".".join(key.path[1:])},
        )
    return list(specs.values())


def backfill_policy_for(obj: SyncObject) -> dg.BackfillPolicy | None:
    if not obj.partition:
        return None
    n = obj.backfill.max_partitions_per_run
    # A range is one streamed query and one slice replace, so a single run stays bounded in
    # memory; single_run is also what `dagster asset materialize --partition-range` requires.
    return dg.BackfillPolicy.multi_run(n) if n else dg.BackfillPolicy.single_run()


def writer_id(obj: SyncObject, project: ProjectConfig) -> str:
    """What may have only one writer at a time: a DuckDB file, else one table."""
    if project.connections[obj.target.connection].type == "duckdb":
        return obj.target.connection
    return "/".join(asset_key(obj, project).path)


def pool_for(obj: SyncObject, project: ProjectConfig) -> str:
    """The concurrency pool (one slot each in dagster.yaml): one writer per target."""
    return "sync_" + "".join(c if c.isalnum() else "_" for c in writer_id(obj, project))


def source_label(obj: SyncObject) -> str:
    src = obj.source
    return (
        f"{src.connection}: query"
        if src.query
        else f"{src.connection}: {'.'.join(p for p in (src.schema_, src.object) if p)}"
    )
