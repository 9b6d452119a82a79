"""One place that maps a connection type to its source and target classes."""

from __future__ import annotations

from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source
from sync_assets.sources.duckdb import DuckDBSource
from sync_assets.sources.files import DeltaSource, ParquetSource
from sync_assets.sources.postgres import PostgresSource
from sync_assets.targets.base import Target
from sync_assets.targets.delta import DeltaTarget
from sync_assets.targets.duckdb import DuckDBTarget
from sync_assets.targets.parquet import ParquetTarget
from sync_assets.targets.postgres import PostgresTarget

SOURCES = {"duckdb": DuckDBSource, "postgres": PostgresSource, "parquet": ParquetSource, "delta": DeltaSource}
TARGETS = {"duckdb": DuckDBTarget, "postgres": PostgresTarget, "parquet": ParquetTarget, "delta": DeltaTarget}
# Dagster `kinds` shown in the UI for each connection type
KINDS = {"duckdb": "duckdb", "postgres": "postgres", "parquet": "parquet", "delta": "deltalake"}
# schema used in paths and asset keys when a target names none
DEFAULT_SCHEMAS = {"duckdb": "main", "postgres": "public", "parquet": "default", "delta": "dbo"}


def make_source(connection, base_dir: str) -> Source:
    return SOURCES[connection.type](connection, base_dir)


def target_schema(obj: SyncObject, connection) -> str:
    return obj.target.schema_ or DEFAULT_SCHEMAS[connection.type]


def make_target(obj: SyncObject, connection, base_dir: str) -> Target:
    cls = TARGETS[connection.type]
    return cls(connection, base_dir, obj.object_id, target_schema(obj, connection), obj.target.object)
