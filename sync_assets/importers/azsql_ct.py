"""Seed 004's azsql-ct pipeline file (YAML or JSON) as our sync objects.

azsql-ct reads SQL Server Change Tracking and writes Parquet under
`{ingest_pipeline}/data/{database}/{schema}/{table}`. Each table becomes a `change_tracking`
object (its `mode` our `change_mode`, `scd_type` and `soft_delete` as they are) from a
`tsql` connection per database to a Parquet connection per database rooted at that folder.
azsql-ct reads each table's primary key from the database; we need it as `merge_keys`:
give it with `--key schema.table=col[,col]`, or the object is written without it and
validation names the field.
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

_COMPRESSION = {"zstd", "snappy", "gzip", "lz4"}
_MODES = {"full", "incremental", "full_incremental"}


def import_file(path: Path, keys: dict[str, list[str]] | None = None, **_) -> Imported:
    """Import `path`; `keys` maps "schema.table" (or "database.schema.table") to its key."""
    doc = read_mapping(Path(path))
    keys = keys or {}
    result = Imported("azsql-ct", str(path))
    databases = doc.get("databases") or doc.get("tables")
    if not isinstance(databases, dict) or not databases:
        raise ImportProblem(f"{path}: no databases: {{<name>: {{schemas: ...}}}} found")
    storage = doc.get("storage") or {}
    for database, spec in databases.items():
        source = _tsql_connection(doc.get("connection") or {}, database, result)
        target = _parquet_connection(storage, database, result)
        schemas = (spec or {}).get("schemas", spec) or {}
        for schema, schema_spec in schemas.items():
            tables = (schema_spec or {}).get("tables", schema_spec) or {}
            for table, options in tables.items():
                result.objects.append(
                    _object(database, schema, table, options, source, target, keys, result)
                )
        _informational(database, spec, result)
    _global_options(doc, result)
    return result


def _tsql_connection(conn: dict, database: str, result: Imported) -> str:
    name = ident(f"azsql_{database}")
    ours = {
        "type": "tsql",
        "flavor": "azure_sql",
        "server": conn.get("server"),
        "database": database,
    }
    if conn.get("sql_login") or conn.get("user"):
        ours.update(
            authentication="sql",
            user=conn.get("sql_login") or conn.get("user"),
            password=secret_reference(result, name, "password", conn.get("password")),
        )
        result.mapped.append(
            f"connection: sql_login -> connection '{name}' user (authentication sql)"
        )
    else:
        ours["authentication"] = "default"
    for key in ("port", "driver"):
        if conn.get(key):
            ours[key] = conn[key]
    for key in sorted(set(conn) - {"server", "sql_login", "user", "password", "port", "driver"}):
        result.unmapped.append(f"connection.{key}: no counterpart (tsql connection options)")
    if not ours["server"]:
        result.unmapped.append(f"connection '{name}': no server given: fill in server")
    result.connections[name] = ours
    return name


def _parquet_connection(storage: dict, database: str, result: Imported) -> str:
    name = ident(f"ingest_{database}")
    root = str(Path(storage.get("ingest_pipeline") or "./ingest") / "data" / database)
    ours: dict = {"type": "parquet", "root": root}
    compression = str(storage.get("parquet_compression") or "zstd").lower()
    if compression == "none":
        compression = "uncompressed"
    if compression in _COMPRESSION | {"uncompressed"}:
        ours["compression"] = compression
    else:
        result.unmapped.append(f"storage.parquet_compression {compression}: not offered; zstd used")
    if storage.get("parquet_compression_level") is not None:
        ours["compression_level"] = int(storage["parquet_compression_level"])
    if storage.get("row_group_size"):
        ours["row_group_size"] = int(storage["row_group_size"])
    result.mapped.append(
        f"storage -> parquet connection '{name}' at {root} (tables at <root>/<schema>/<table>, "
        "one manifest per table instead of date folders and output.yaml)"
    )
    if storage.get("output_format", "per_table") != "per_table":
        result.unmapped.append(
            f"storage.output_format {storage['output_format']}: the unified bronze envelope is "
            "not built; tables are written per_table"
        )
    result.connections[name] = ours
    return name


def _object(database, schema, table, options, source, target, keys, result) -> dict:
    options = {"mode": options} if isinstance(options, str) else dict(options or {})
    oid = ident(f"{database}_{schema}_{table}")
    mode = str(options.pop("mode", "full_incremental")).lower()
    obj: dict = {
        "object_id": oid,
        "source": {"connection": source, "schema": schema, "object": table},
        "target": {"connection": target, "schema": schema, "object": ident(table)},
        "sync_type": "change_tracking",
        "change_mode": mode,
    }
    if mode not in _MODES:
        result.unmapped.append(f"{oid}: mode '{mode}' is not full, incremental or full_incremental")
    key = keys.get(f"{database}.{schema}.{table}") or keys.get(f"{schema}.{table}")
    if key:
        obj["merge_keys"] = list(key)
    else:
        result.unmapped.append(
            f"{oid}: merge_keys: azsql-ct reads the primary key from the database; give "
            f"--key {schema}.{table}=<column> or fill in merge_keys"
        )
    for field in ("scd_type", "soft_delete"):
        if field in options:
            obj[field] = options.pop(field)
    for field in sorted(options):
        result.unmapped.append(f"{oid}: table option {field} has no counterpart")
    result.mapped.append(f"{oid}: {database}.{schema}.{table} mode {mode} -> change_tracking")
    return obj


def _informational(database: str, spec, result: Imported) -> None:
    """uc_catalog / uc_schema are metadata for Unity Catalog, not used by the sync."""
    spec = spec or {}
    found = ["uc_catalog"] if "uc_catalog" in spec else []
    for schema, schema_spec in (spec.get("schemas") or {}).items():
        if isinstance(schema_spec, dict) and "uc_schema" in schema_spec:
            found.append(f"{schema}.uc_schema")
    if found:
        result.unmapped.append(
            f"{database}: {', '.join(found)} are informational in azsql-ct too; not carried"
        )


def _global_options(doc: dict, result: Imported) -> None:
    if "parallelism" in doc:
        result.mapped.append(
            f"parallelism {doc['parallelism']}: the objects run as steps of one Dagster run "
            "(the executor's max_concurrent), each table's writer kept single by its pool"
        )
    for key in sorted(set(doc) - {"connection", "storage", "databases", "tables", "parallelism"}):
        result.unmapped.append(f"{key}: no counterpart")
