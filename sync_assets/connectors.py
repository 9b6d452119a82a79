"""One place that maps a connection type to its source and target classes."""

from __future__ import annotations

from importlib import import_module

from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source
from sync_assets.targets.base import Target

# Classes by connection type, as "module:Class": each is imported when a run first needs it,
# so a process loads only the drivers (DuckDB, deltalake, pyodbc, Snowflake...) it uses.
SOURCES = {"duckdb": "sources.duckdb:DuckDBSource", "postgres": "sources.postgres:PostgresSource",
           "parquet": "sources.files:ParquetSource", "delta": "sources.files:DeltaSource",
           "fabric_lakehouse": "sources.files:DeltaSource", "tsql": "sources.odbc:OdbcSource",
           "snowflake": "snowflake.source:SnowflakeSource"}
TARGETS = {"duckdb": "targets.duckdb:DuckDBTarget", "postgres": "targets.postgres:PostgresTarget",
           "parquet": "targets.parquet:ParquetTarget", "delta": "targets.delta:DeltaTarget",
           "fabric_lakehouse": "targets.delta:DeltaTarget", "tsql": "targets.odbc:OdbcTarget",
           "snowflake": "snowflake.target:SnowflakeTarget"}


def _class(path: str) -> type:
    module, name = path.split(":")
    return getattr(import_module(f"sync_assets.{module}"), name)


# Dagster `kinds` shown in the UI for each connection type (T-SQL: by flavor)
KINDS = {"duckdb": "duckdb", "postgres": "postgres", "parquet": "parquet", "delta": "deltalake",
         "fabric_lakehouse": "fabric", "snowflake": "snowflake"}
TSQL_KINDS = {"sqlserver": "sqlserver", "azure_sql": "azure", "synapse": "synapse",
              "fabric_warehouse": "fabric", "postgres": "postgres"}
# schema used in paths and asset keys when a target names none
DEFAULT_SCHEMAS = {"duckdb": "main", "postgres": "public", "parquet": "default", "delta": "dbo",
                   "fabric_lakehouse": "dbo", "tsql": "dbo"}


def kind_of(connection) -> str:
    """The Dagster kind tag of a connection."""
    if connection.type == "tsql":
        return TSQL_KINDS[connection.flavor]
    return KINDS[connection.type]


def default_schema(connection) -> str:
    if connection.type == "tsql" and connection.flavor == "postgres":
        return "public"
    if connection.type == "snowflake":
        return connection.schema_ or "PUBLIC"
    return DEFAULT_SCHEMAS[connection.type]


def make_source(connection, base_dir: str) -> Source:
    return _class(SOURCES[connection.type])(connection, base_dir)


def target_schema(obj: SyncObject, connection) -> str:
    return obj.target.schema_ or default_schema(connection)


def make_target(obj: SyncObject, connection, base_dir: str) -> Target:
    cls = _class(TARGETS[connection.type])
    target = cls(connection, base_dir, obj.object_id, target_schema(obj, connection), obj.target.object)
    if obj.zorder_by and hasattr(target, "zorder_by"):
        target.zorder_by = list(obj.zorder_by)
    return target
