"""Seed 002's SyncHub pipeline YAML (and its datastores.yaml) as one sync object.

- `source_provider` / `destination_provider` `data_backend`: connection (datastore_name),
  schema, table; `alias`, `join` and `filters` make the source a query;
- `column_map`: `source -> dest` mappings; role `unique_column` gives merge_keys, role
  `partition_column` with `partition_step` an integer-range partition; `data_type` is read
  from the source's catalog here;
- `strategies`: `delta` (a watermark upsert on `column`), `hash`, `full`, each with its
  `cron`, `enabled` and `page_size`, as our `strategies:` on one asset (one strategy: the
  plain `sync_type` form).
"""

from __future__ import annotations

from pathlib import Path

from sync_assets.importers import (
    Imported,
    ImportProblem,
    ident,
    read_mapping,
    secret_reference,
)

# ranges an imported partition_step gets (SyncHub has no end; ours are a fixed set)
DEFAULT_RANGES = 100
_KINDS = {"delta": "merge", "hash": "hash", "full": "full"}
_INHERENT = {
    "prevent_update_unless_changed": "hash writes only rows whose hash changed",
    "use_sub_partition": "a run streams in batches of batch_size",
    "sub_partition_step": "a run streams in batches of batch_size",
}


def import_file(path: Path, datastores: Path | None = None, **_) -> Imported:
    doc = read_mapping(Path(path))
    result = Imported("synchub", str(path))
    if datastores:
        _datastores(read_mapping(Path(datastores)), result)
    name = doc.get("name")
    if not name:
        raise ImportProblem(f"{path}: the pipeline has no name")
    if str(doc.get("sync_type", "row-level")).lower() == "aggregate":
        raise ImportProblem(
            f"{path}: pipeline '{name}': sync_type aggregate (re-aggregation on change) is not "
            "built yet; nothing imported"
        )
    oid = ident(name)
    obj: dict = {"object_id": oid}
    if doc.get("description"):
        obj["description"] = doc["description"]
    if doc.get("enabled") is False:
        obj["active"] = False
    columns = doc.get("column_map") or []
    obj["source"], query, where = _source(doc, columns, oid, result)
    if where:
        obj["filter_condition"] = where
    obj["target"] = _backend(doc, "destination_provider", oid, result)
    if columns and not query:
        obj["column_mappings"] = {c["source"]: c.get("dest") or c["source"] for c in columns}
    keys = [c.get("dest") or c["source"] for c in columns if "unique_column" in c.get("roles", [])]
    if keys:
        obj["merge_keys"] = keys
    result.mapped.append(f"{oid}: column_map -> column_mappings ({len(columns)} columns)")
    typed = [c.get("dest") or c["source"] for c in columns if c.get("data_type")]
    if typed:
        result.mapped.append(
            f"{oid}: column_map data_type ({', '.join(typed)}): read from the source's catalog, "
            "mapped to each target's natural type (README: Types)"
        )
    _partition(doc, columns, obj, result)
    _strategies(doc.get("strategies") or [], obj, result)
    if "enrichment" in doc:
        result.unmapped.append(
            f"{oid}: enrichment (dimension lookups, Python transformations) has no counterpart: "
            "join the dimension in the source query, or compute the column in a SQL mapping"
        )
    if "max_concurrent_partitions" in doc:
        result.unmapped.append(
            f"{oid}: max_concurrent_partitions: a backfill's partitions are Dagster runs, one "
            "writer at a time per table (its pool); backfill.max_partitions_per_run sizes them"
        )
    result.objects.append(obj)
    return result


def _datastores(doc: dict, result: Imported) -> None:
    for name, store in (doc.get("datastores") or {}).items():
        conn = store.get("connection") or {}
        if str(store.get("type")).lower() not in ("postgres", "postgresql"):
            result.unmapped.append(f"datastore {name}: type {store.get('type')} is not imported")
            continue
        ours = {"type": "postgres", "host": conn.get("host"), "database": conn.get("dbname")}
        for field in ("port", "user"):
            if conn.get(field) is not None:
                ours[field] = conn[field]
        if conn.get("password") is not None:
            ours["password"] = secret_reference(result, ident(name), "password", conn["password"])
        result.connections[ident(name)] = ours
        result.mapped.append(f"datastore {name} -> postgres connection '{ident(name)}'")


def _backend(doc: dict, side: str, oid: str, result: Imported) -> dict:
    backend = (doc.get(side) or {}).get("data_backend") or {}
    if not backend.get("datastore_name") or not backend.get("table"):
        raise ImportProblem(f"pipeline '{oid}': {side}.data_backend needs datastore_name and table")
    spec = {"connection": ident(backend["datastore_name"]), "object": backend["table"]}
    if backend.get("schema"):
        spec["schema"] = backend["schema"]
    if "supports_update" in backend:
        result.mapped.append(f"{oid}: {side} supports_update: every target takes upserts")
    return spec


def _source(doc: dict, columns: list, oid: str, result: Imported) -> tuple[dict, bool, str]:
    """(source, is a query, filter): schema + table with the filters as filter_condition, or
    a query when it joins or aliases the table (SyncHub's `o.id` names)."""
    backend = (doc.get("source_provider") or {}).get("data_backend") or {}
    table = _backend(doc, "source_provider", oid, result)
    filters = backend.get("filters") or []
    where = " AND ".join(f"({f})" for f in filters)
    if not (backend.get("join") or backend.get("alias")):
        return table, False, where
    relation = ".".join(p for p in (backend.get("schema"), backend["table"]) if p)
    sql = f"SELECT {', '.join(_projection(columns))} FROM {relation}"
    if backend.get("alias"):
        sql += f" AS {backend['alias']}"
    for join in backend.get("join") or []:
        kind = str(join.get("type", "inner")).upper()
        # YAML 1.1 (PyYAML, and SyncHub's own loader) reads the key `on` as true
        on = join.get("on", join.get(True))
        sql += f" {kind} JOIN {join['table']} AS {join.get('alias', join['table'])} ON {on}"
    if where:
        sql += f" WHERE {where}"
    result.mapped.append(f"{oid}: source alias / join / filters -> source.query")
    return {"connection": table["connection"], "query": sql}, True, ""


def _projection(columns: list) -> list[str]:
    return [f"{c['source']} AS {c.get('dest') or c['source'].split('.')[-1]}" for c in columns]


def _partition(doc: dict, columns: list, obj: dict, result: Imported) -> None:
    step = doc.get("partition_step")
    # the role names the column as the synced rows (and a query source) have it
    role = [
        c.get("dest") or c["source"] for c in columns if "partition_column" in c.get("roles", [])
    ]
    column = role[0] if role else doc.get("partition_column")
    if not step or not column:
        return
    end = int(step) * DEFAULT_RANGES
    obj["partition"] = {"column": column, "step": int(step), "end": end}
    result.unmapped.append(
        f"{obj['object_id']}: partition end: SyncHub finds the id range at run time; ours is a "
        f"fixed set of ranges, so end: {end} ({DEFAULT_RANGES} ranges) was assumed. A run that "
        "includes the last range fails if ids reach it: raise partition.end then"
    )
    result.mapped.append(
        f"{obj['object_id']}: partition_step {step} on {column} -> integer-range partitions "
        "(each a resumable slice, replaced exactly)"
    )


def _strategies(strategies: list, obj: dict, result: Imported) -> None:
    oid = obj["object_id"]
    ours = []
    for strategy in strategies:
        kind = str(strategy.get("type", "")).lower()
        if kind not in _KINDS:
            result.unmapped.append(
                f"{oid}: strategy {strategy.get('name')} type {kind}: not imported"
            )
            continue
        item = {"name": ident(strategy.get("name") or kind), "sync_type": _KINDS[kind]}
        if kind == "delta":
            column = strategy.get("column") or _partition_column(strategy)
            item["sync_column"] = column
            if not obj.get("merge_keys"):
                item["sync_type"] = "incremental"
        if strategy.get("cron"):
            item["frequency"] = strategy["cron"]
        if strategy.get("enabled") is False:
            item["enabled"] = False
        if strategy.get("page_size"):
            item["batch_size"] = int(strategy["page_size"])
        handled = {"name", "type", "column", "cron", "enabled", "page_size", "primary_partitions"}
        for key in sorted(set(strategy) - handled):
            why = _INHERENT.get(key)
            line = f"{oid}: strategy {item['name']} {key}"
            (result.mapped if why else result.unmapped).append(
                f"{line}: {why}" if why else f"{line}: no counterpart"
            )
        ours.append(item)
        result.mapped.append(f"{oid}: strategy {item['name']} ({kind}) -> {item['sync_type']}")
    if len(ours) == 1:  # the plain form
        single = ours[0]
        single.pop("name")
        enabled = single.pop("enabled", True)
        if not enabled:
            single.pop("frequency", None)
        obj.update(single)
    elif ours:
        obj["strategies"] = ours
    else:
        obj["sync_type"] = "full"
        result.unmapped.append(f"{oid}: no strategy imported: sync_type full")


def _partition_column(strategy: dict) -> str | None:
    parts = strategy.get("primary_partitions") or []
    return parts[0].get("column") if parts else None
