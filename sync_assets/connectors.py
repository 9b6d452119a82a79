"""One place that maps a connection type to its source and target classes."""

from __future__ import annotations

from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source
from sync_assets.sources.duckdb import DuckDBSource
from sync_assets.sources.files import DeltaSource, ParquetSource
from sync_assets.sources.odbc import OdbcSource
from sync_assets.snowflake.source import SnowflakeSource
from sync_assets.snowflake.target import SnowflakeTarget
from sync_assets.sources.postgres import PostgresSource
from sync_assets.targets.base import Target
from sync_assets.targets.delta import DeltaTarget
from sync_assets.targets.duckdb import DuckDBTarget
from sync_assets.targets.odbc import OdbcTarget
from sync_assets.targets.parquet import ParquetTarget
from sync_assets.targets.postgres import PostgresTarget

SOURCES = {"duckdb": DuckDBSource, "postgres": PostgresSource, "parquet": ParquetSource, "delta": DeltaSource,
           "fabric_lakehouse": DeltaSource, "tsql": OdbcSource, "snowflake": SnowflakeSource}
TARGETS = {"duckdb": DuckDBTarget, "postgres": PostgresTarget, "parquet": ParquetTarget, "delta": DeltaTarget,
           "fabric_lakehouse": DeltaTarget, "tsql": OdbcTarget, "snowflake": SnowflakeTarget}
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
    return SOURCES[connection.type](connection, base_dir)


def target_schema(obj: SyncObject, connection) -> str:
    return obj.target.schema_ or default_schema(connection)


def make_target(obj: SyncObject, connection, base_dir: str) -> Target:
    cls = TARGETS[connection.type]
    target = cls(connection, base_dir, obj.object_id, target_schema(obj, connection), obj.target.object)
    if obj.zorder_by and hasattr(target, "zorder_by"):
        target.zorder_by = list(obj.zorder_by)
    return target
