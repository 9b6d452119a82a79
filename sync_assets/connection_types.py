"""One record per connection type: everything the project knows about a kind of system.

The factory (kinds, default schema), the IO manager (target class, family name), the config
checks (SQL dialect), the connection checks and redaction (secret fields) all read these
records; a new connection type is one record here plus its source / target modules.

Source and target classes are named as "module:Class" and imported when a run first needs
them, so a process loads only the drivers (DuckDB, deltalake, pyodbc, Snowflake...) it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from sync_assets.config.models import SyncObject

if TYPE_CHECKING:  # the records name their classes; sources and targets read the records
    from sync_assets.sources.base import Source
    from sync_assets.targets.base import Target


@dataclass(frozen=True)
class ConnectionType:
    name: str  # the connection's `type` in YAML (T-SQL records: its flavor)
    source: str  # "module:Class" under sync_assets
    target: str
    kind: str  # Dagster kind shown in the UI
    family: str  # what the IO manager writes, as the UI says it
    default_schema: str  # schema used in paths, asset keys and SQL when an object names none
    dialect: str  # SQL dialect of filter_condition, column_mappings and source queries
    check: str  # "module:function" of the connection check
    secret_fields: tuple[str, ...] = ()  # fields whose values never reach logs or metadata
    # a connection field that, when set, overrides the default schema (Snowflake's `schema`)
    schema_field: str | None = None


_FILES = "connection_checks:check_location"
_DELTA = dict(
    source="sources.files:DeltaSource",
    target="targets.delta:DeltaTarget",
    dialect="duckdb",
    default_schema="dbo",
    check=_FILES,
)
_TSQL = dict(
    source="sources.odbc:OdbcSource",
    target="targets.odbc:OdbcTarget",
    dialect="tsql",
    default_schema="dbo",
    check="connection_checks:check_tsql",
    secret_fields=("password", "client_secret"),
)

TYPES: dict[str, ConnectionType] = {
    t.name: t
    for t in (
        ConnectionType(
            "duckdb",
            "sources.duckdb:DuckDBSource",
            "targets.duckdb:DuckDBTarget",
            kind="duckdb",
            family="DuckDB tables",
            default_schema="main",
            dialect="duckdb",
            check=_FILES,
        ),
        ConnectionType(
            "postgres",
            "sources.postgres:PostgresSource",
            "targets.postgres:PostgresTarget",
            kind="postgres",
            family="PostgreSQL tables (binary COPY)",
            default_schema="public",
            dialect="postgres",
            check="connection_checks:check_postgres",
            secret_fields=("password",),
        ),
        ConnectionType(
            "parquet",
            "sources.files:ParquetSource",
            "targets.parquet:ParquetTarget",
            kind="parquet",
            family="Parquet table folders (manifest commits)",
            default_schema="default",
            dialect="duckdb",
            check=_FILES,
        ),
        ConnectionType("delta", kind="deltalake", family="Delta tables", **_DELTA),
        ConnectionType(
            "fabric_lakehouse",
            kind="fabric",
            family="Delta tables in a Fabric lakehouse (OneLake)",
            secret_fields=("client_secret",),
            **_DELTA,
        ),
        ConnectionType(
            "snowflake",
            "snowflake.source:SnowflakeSource",
            "snowflake.target:SnowflakeTarget",
            kind="snowflake",
            family="Snowflake tables (PUT + COPY INTO, MERGE)",
            default_schema="PUBLIC",
            dialect="snowflake",
            check="connection_checks:check_snowflake",
            secret_fields=("password", "private_key", "private_key_password"),
            schema_field="schema_",
        ),
    )
}
# `tsql` connections, by flavor
TSQL_FLAVORS: dict[str, ConnectionType] = {
    t.name: t
    for t in (
        ConnectionType(
            "sqlserver",
            kind="sqlserver",
            family="SQL Server tables (#temp staging, MERGE)",
            **_TSQL,
        ),
        ConnectionType(
            "azure_sql", kind="azure", family="Azure SQL tables (#temp staging, MERGE)", **_TSQL
        ),
        ConnectionType(
            "synapse",
            kind="synapse",
            family="Synapse dedicated pool tables (staging or COPY INTO, MERGE)",
            **_TSQL,
        ),
        ConnectionType(
            "fabric_warehouse",
            kind="fabric",
            family="Fabric Warehouse tables (staging or COPY INTO, delete + insert)",
            **_TSQL,
        ),
        ConnectionType(
            "postgres",
            kind="postgres",
            family="PostgreSQL tables through ODBC",
            **dict(_TSQL, dialect="postgres", default_schema="public"),
        ),
    )
}


def record(connection) -> ConnectionType:
    """The record of a connection config (T-SQL ones by flavor)."""
    if connection.type == "tsql":
        return TSQL_FLAVORS[connection.flavor]
    return TYPES[connection.type]


def _load(path: str):
    module, name = path.split(":")
    return getattr(import_module(f"sync_assets.{module}"), name)


def kind_of(connection) -> str:
    """The Dagster kind tag of a connection."""
    return record(connection).kind


def dialect_of(connection) -> str:
    """The SQL dialect that filter_condition, column_mappings and queries are written in."""
    return record(connection).dialect


def default_schema(connection) -> str:
    rec = record(connection)
    return (rec.schema_field and getattr(connection, rec.schema_field)) or rec.default_schema


def secret_values(connection) -> list[str]:
    """Values of the connection's secret fields that are set."""
    return [
        v for v in (getattr(connection, f, None) for f in record(connection).secret_fields) if v
    ]


def check_function(connection):
    """The connection check of a connection: (project, name, connection, base_dir) -> checks."""
    return _load(record(connection).check)


def make_source(connection, base_dir: str) -> Source:
    return _load(record(connection).source)(connection, base_dir)


def target_schema(obj: SyncObject, connection) -> str:
    return obj.target.schema_ or default_schema(connection)


def make_target(obj: SyncObject, connection, base_dir: str) -> Target:
    cls = _load(record(connection).target)
    target = cls(
        connection, base_dir, obj.object_id, target_schema(obj, connection), obj.target.object
    )
    if obj.zorder_by and hasattr(target, "zorder_by"):
        target.zorder_by = list(obj.zorder_by)
    return target
