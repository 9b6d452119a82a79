"""Pydantic models for connections and sync objects declared in YAML.

Field names follow the source documents (object_id, sync_type, sync_column, merge_keys,
filter_condition, column_mappings) so users of those tools recognise them. Every model
forbids unknown fields: a typo is an error, never a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sync_assets.config.frequency import Frequency, FreshnessSpec, known_zone, parse_duration

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


# a plain column name (the key of a mapping written the other way round)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- connections


class DuckDBConnection(_Strict):
    """An embedded DuckDB database file (source or target).

    `memory_limit` caps DuckDB's memory while a sync writes this file. DuckDB holds written
    blocks in memory up to its cap before evicting them to the file, so a bulk load's memory
    grows to the cap: the default 128MB keeps it flat; raise it for large merges (they spill
    to disk beyond it).
    """

    type: Literal["duckdb"]
    path: str
    memory_limit: str = Field(default="128MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$")
    description: str | None = None


class PostgresConnection(_Strict):
    """A PostgreSQL server, given as discrete fields or a libpq URI in `dsn`."""

    type: Literal["postgres"]
    host: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    database: str | None = None
    user: str | None = None
    password: str | None = None
    dsn: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    description: str | None = None

    @model_validator(mode="after")
    def _dsn_or_fields(self) -> PostgresConnection:
        if not self.dsn and not (self.host and self.database):
            raise ValueError("host: give either dsn, or host and database")
        return self


def _check_service_principal(conn) -> None:
    """A service-principal login needs its tenant, client id and secret."""
    if conn.authentication == "service_principal":
        missing = [f for f in ("tenant_id", "client_id", "client_secret") if not getattr(conn, f)]
        if missing:
            raise ValueError(
                f"{missing[0]}: authentication service_principal needs {', '.join(missing)}"
            )


class DeltaMaintenance(_Strict):
    """Table maintenance after each write that committed rows (Delta / Fabric lakehouse)."""

    # compact small files (with z-order on the object's `zorder_by` columns when it has them)
    optimize: bool = False
    # remove files no longer referenced and older than this many hours (168 = 7 days, the
    # Delta default; CDF readers and time travel need the files of the versions they read)
    vacuum_retention_hours: int | None = Field(default=None, ge=0)


class DeltaFiles(_Strict):
    """How the Parquet data files of Delta tables are written (every write, merge and optimize)."""

    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = "zstd"
    compression_level: int | None = None
    # rows per row group: the writer holds one row group of each open file in memory, so this
    # bounds the write's memory (delta-rs would otherwise buffer ~1M rows)
    row_group_size: int = Field(default=131_072, ge=1_024)
    # bytes of a data file before the next one starts (None: delta-rs' default, ~100 MB)
    target_file_size: int | None = Field(default=None, ge=1_048_576)


class DeltaConnection(_Strict):
    """A folder (local path or URL) whose tables are Delta tables at <root>/<schema>/<object>.

    `table_properties` are set on tables this connection creates, e.g.
    {"delta.enableChangeDataFeed": "true"} so a `cdf` object can read their changes.
    """

    type: Literal["delta"]
    root: str
    storage_options: dict[str, str] = Field(default_factory=dict)
    table_properties: dict[str, str] = Field(default_factory=dict)
    maintenance: DeltaMaintenance = DeltaMaintenance()
    files: DeltaFiles = DeltaFiles()
    description: str | None = None

    @property
    def schemas(self) -> bool:
        return True


class FabricLakehouseConnection(_Strict):
    """The Tables of a Fabric lakehouse on OneLake:
    abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse/Tables/<schema>/<table>
    (no <schema> level when `schemas: false`, for lakehouses created without schemas).

    authentication: default (azure-identity's DefaultAzureCredential, as a bearer token),
    service_principal (tenant_id, client_id, client_secret), managed_identity (optional
    client_id), azure_cli, or storage_options only. `emulator: true` talks to Azurite at
    $AZURITE_BLOB_STORAGE_URL (local development and tests). V-Order, Fabric's own Parquet
    layout, is written by Fabric engines only: tables written here are standard Delta/Parquet,
    which Fabric reads as they are.
    """

    type: Literal["fabric_lakehouse"]
    workspace: str
    lakehouse: str
    schemas: bool = True
    endpoint: str = "onelake.dfs.fabric.microsoft.com"
    authentication: Literal[
        "default", "service_principal", "managed_identity", "azure_cli", "storage_options"
    ] = "default"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    storage_options: dict[str, str] = Field(default_factory=dict)
    table_properties: dict[str, str] = Field(default_factory=dict)
    maintenance: DeltaMaintenance = DeltaMaintenance()
    files: DeltaFiles = DeltaFiles()
    emulator: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _who(self) -> FabricLakehouseConnection:
        _check_service_principal(self)
        return self

    @property
    def root(self) -> str:
        return f"abfss://{self.workspace}@{self.endpoint}/{self.lakehouse}.Lakehouse/Tables"


class ParquetConnection(_Strict):
    """A folder of Parquet tables at <root>/<schema>/<object>, each with a manifest."""

    type: Literal["parquet"]
    root: str
    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = "zstd"
    compression_level: int | None = None
    row_group_size: int = 122_880
    description: str | None = None


class CopyStaging(_Strict):
    """Where Synapse / Fabric Warehouse targets stage Parquet for COPY INTO.

    `url` is a folder: abfss://<container>@<account>.dfs.core.windows.net/<path>, an
    https:// URL of ADLS Gen2 or OneLake, or a local path (for tests). The service reads the
    files with `credential` (the body of COPY INTO's CREDENTIAL clause, e.g.
    "IDENTITY = 'Managed Identity'"); the files are written with `storage_options`.
    """

    url: str
    credential: str | None = None
    storage_options: dict[str, str] = Field(default_factory=dict)


class TsqlConnection(_Strict):
    """A Microsoft SQL endpoint reached through ODBC (pyodbc).

    flavor: sqlserver (also azure_sql), synapse (dedicated SQL pool), fabric_warehouse, or
    postgres (PostgreSQL through psqlODBC, the same writer; used to prove the ODBC plumbing).
    Give a full ODBC connection string in `odbc_connect`, or the discrete fields.
    authentication: sql (user + password), service_principal (tenant_id, client_id,
    client_secret), managed_identity (optional client_id), azure_cli, or default
    (azure-identity's DefaultAzureCredential); Entra ID tokens go to the driver as an access
    token, never into the connection string.
    """

    type: Literal["tsql"]
    flavor: Literal["sqlserver", "azure_sql", "synapse", "fabric_warehouse", "postgres"] = (
        "sqlserver"
    )
    odbc_connect: str | None = None
    driver: str | None = None
    server: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = None
    authentication: Literal[
        "sql", "service_principal", "managed_identity", "azure_cli", "default"
    ] = "sql"
    user: str | None = None
    password: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    encrypt: bool = True
    trust_server_certificate: bool = False
    login_timeout: int = Field(default=30, ge=1)
    # WITH (...) of CREATE TABLE for new target tables, e.g. on Synapse
    # "DISTRIBUTION = HASH(id), CLUSTERED COLUMNSTORE INDEX" (default there: ROUND_ROBIN, HEAP)
    table_options: str | None = None
    # read sources in one SNAPSHOT transaction (SQL Server needs ALLOW_SNAPSHOT_ISOLATION ON)
    snapshot_reads: bool = True
    # further ODBC keywords, passed through as KEY=value
    options: dict[str, str] = Field(default_factory=dict)
    staging: CopyStaging | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _where_and_who(self) -> TsqlConnection:
        if not self.odbc_connect and not (self.server and self.database):
            raise ValueError("server: give either odbc_connect, or server and database")
        _check_service_principal(self)
        if self.staging and self.flavor not in ("synapse", "fabric_warehouse"):
            raise ValueError(
                "staging: COPY INTO staging is available on synapse and fabric_warehouse only"
            )
        return self


class SnowflakeConnection(_Strict):
    """A Snowflake database, reached through dagster-snowflake's SnowflakeResource.

    Authentication as the resource supports it: password, key pair (`private_key` or
    `private_key_path`, with `private_key_password`), or `authenticator` (externalbrowser,
    oauth with `token` in additional_snowflake_connection_args, ...). Anything else the
    connector takes goes in `additional_snowflake_connection_args` (that is also how tests
    point it at a local server: host, port, protocol). `use_merge: false` applies batches with
    delete + insert instead of MERGE.
    """

    type: Literal["snowflake"]
    account: str
    user: str
    password: str | None = None
    database: str
    schema_: str | None = Field(default=None, alias="schema")
    role: str | None = None
    warehouse: str | None = None
    private_key: str | None = None
    private_key_path: str | None = None
    private_key_password: str | None = None
    authenticator: str | None = None
    additional_snowflake_connection_args: dict = Field(default_factory=dict)
    use_merge: bool = True
    description: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Connection = Annotated[
    DuckDBConnection
    | PostgresConnection
    | DeltaConnection
    | FabricLakehouseConnection
    | ParquetConnection
    | TsqlConnection
    | SnowflakeConnection,
    Field(discriminator="type"),
]

# --------------------------------------------------------------------------- sync objects


class SourceSpec(_Strict):
    """Where rows come from: a table/view (schema + object) or a SQL query."""

    connection: str
    schema_: str | None = Field(default=None, alias="schema")
    object: str | None = None
    query: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _object_or_query(self) -> SourceSpec:
        if bool(self.object) == bool(self.query):
            raise ValueError("object: give exactly one of object (with optional schema) or query")
        return self


class TargetSpec(_Strict):
    """Where rows go: a table named by schema and object on a target connection."""

    connection: str
    schema_: str | None = Field(default=None, alias="schema", pattern=IDENT)
    object: str = Field(pattern=IDENT)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_naive(value: dt.date) -> dt.datetime:
    """A date or datetime as a naive datetime, to compare the two."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime(value.year, value.month, value.day)


# most keys an integer-range partitioning may have (each is a Dagster partition)
MAX_RANGE_KEYS = 10_000


class PartitionSpec(_Strict):
    """A partitioning on a source column: time windows (`granularity`, dates or timestamps),
    or integer ranges (`step`, seed 002's partition_step) of `step` values from `start`
    (default 0) up to at least `end`."""

    column: str
    granularity: Literal["hourly", "daily", "weekly", "monthly"] | None = None
    step: int | None = Field(default=None, ge=1)
    start: dt.datetime | dt.date | int | None = None
    end: dt.datetime | dt.date | int | None = None
    timezone: str = "UTC"
    # strftime format for string partition columns; defaults by granularity.
    format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _range_origin(cls, data):
        """Integer ranges start at 0 unless told otherwise."""
        if isinstance(data, dict) and data.get("step") is not None and data.get("start") is None:
            return {**data, "start": 0}
        return data

    @model_validator(mode="after")
    def _time_or_range(self) -> PartitionSpec:
        if self.step is None:
            self._time_window_rules()
        else:
            self._range_rules()
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    def _time_window_rules(self) -> None:
        if self.granularity is None:
            raise ValueError(
                "granularity: give granularity (hourly, daily, weekly, monthly) for time "
                "windows, or step for integer ranges"
            )
        if not isinstance(self.start, dt.date) or isinstance(self.end, int):
            raise ValueError("start: time windows start (and end) at a date or timestamp")
        if self.end is not None and _as_naive(self.end) <= _as_naive(self.start):
            raise ValueError(f"end: {self.end} is not after start {self.start}")

    def _range_rules(self) -> None:
        if self.granularity is not None:
            raise ValueError("step: integer ranges (step) take no granularity; give one of the two")
        if not isinstance(self.start, int) or not isinstance(self.end, int):
            raise ValueError(
                "end: integer ranges need an integer end (the highest value the column may "
                "reach; the partitions are a fixed set, so raise it as the table grows)"
            )
        keys = -(-(self.end - self.start) // self.step)
        if keys < 1:
            raise ValueError(f"end: {self.end} is not above start {self.start}")
        if keys > MAX_RANGE_KEYS:
            raise ValueError(
                f"step: {keys} partitions of {self.step} from {self.start} to {self.end}; "
                f"at most {MAX_RANGE_KEYS}: raise step"
            )

    @property
    def is_range(self) -> bool:
        return self.step is not None


class ChecksSpec(_Strict):
    """Asset checks run after each materialization (the asset's Checks tab)."""

    # the target holds as many rows as the source (per partition for partitioned objects)
    row_count: bool = False
    # source and target agree on these target columns (a checksum in one canonical encoding)
    checksum: list[str] = Field(default_factory=list)
    severity: Literal["warn", "error"] = "warn"
    # a failed check stops assets downstream of this one in the same run
    blocking: bool = False


class ScdSpec(_Strict):
    """The history columns of `scd_type: 2` and where a version's validity comes from."""

    valid_from: str = Field(default="valid_from", pattern=IDENT)
    valid_to: str = Field(default="valid_to", pattern=IDENT)
    is_current: str = Field(default="is_current", pattern=IDENT)
    # a source column (e.g. updated_at) that says when a version became valid; default: the
    # sync's own time
    validity_column: str | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ScdSpec:
        names = [self.valid_from, self.valid_to, self.is_current]
        if len(set(names)) != 3:
            raise ValueError(f"valid_from, valid_to and is_current need three names, got {names}")
        return self


class BackfillSpec(_Strict):
    """How partition backfills are split into runs; none = one run for any range."""

    max_partitions_per_run: int | None = Field(default=None, ge=1)


class RetriesSpec(_Strict):
    """How often a failed run of the object is retried (Dagster's RetryPolicy); errors that
    cannot succeed on retry fail at once (retries.py)."""

    max: int = Field(ge=1, le=100)
    delay_s: float = Field(default=30.0, ge=0, le=86_400)
    backoff: Literal["exponential", "linear"] | None = None
    jitter: bool = False


SyncType = Literal["full", "incremental", "merge", "append_only", "hash", "change_tracking", "cdf"]
# sync types that read a change stream (SQL Server Change Tracking, Delta change data feed)
CHANGE_SYNC_TYPES = ("change_tracking", "cdf")
# change streams: full = reload every run; incremental = changes only (a first run without
# state is an error); full_incremental = full load first, changes afterwards
ChangeMode = Literal["full", "incremental", "full_incremental"]


# the fields a strategy of `strategies:` may set for its runs (the rest are the object's)
STRATEGY_FIELDS = (
    "sync_type",
    "sync_column",
    "frequency",
    "batch_size",
    "lookback",
    "skip_unchanged",
    "delete_missing",
    "hash_columns",
    "exclude_columns",
    "change_mode",
)


class StrategySpec(_Strict):
    """One way of syncing an object (seed 002's `strategies:`): e.g. `incremental` every 15
    minutes, `hash` daily, `full` weekly, all on one asset with one state and one pool.
    Fields left out are the object's."""

    name: str = Field(pattern=IDENT)
    sync_type: SyncType
    sync_column: str | None = None
    frequency: Frequency | None = None
    # false: no schedule; true: its schedule starts running; left out: the object's `enabled`
    enabled: bool | None = None
    batch_size: int | None = Field(default=None, ge=1, le=10_000_000)
    lookback: dt.timedelta | None = None
    skip_unchanged: bool | None = None
    delete_missing: bool | None = None
    hash_columns: list[str] | None = None
    exclude_columns: list[str] | None = None
    change_mode: ChangeMode | None = None

    @field_validator("lookback", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value)

    def overrides(self) -> dict:
        """The object fields this strategy sets (JSON form, by alias)."""
        given = self.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in given.items() if k in STRATEGY_FIELDS}


class SyncObject(_Strict):
    """One table kept in sync; becomes one Dagster asset when active.

    With `strategies:`, the object's own fields are those of its first strategy (the one a
    run without a strategy tag uses); `variant(name)` is the object as another strategy runs it.
    """

    object_id: str = Field(pattern=IDENT)
    name: str | None = None
    description: str | None = None
    active: bool = True
    group: str | None = Field(default=None, pattern=IDENT)
    source: SourceSpec
    target: TargetSpec
    sync_type: SyncType
    sync_column: str | None = None
    merge_keys: list[str] = Field(default_factory=list)
    filter_condition: str | None = None
    column_mappings: dict[str, str] | None = None
    partition: PartitionSpec | None = None
    batch_size: int = Field(default=100_000, ge=1, le=10_000_000)
    frequency: Frequency | None = None
    # true: the object's schedules and sensors start running (else stopped until turned on)
    enabled: bool = False
    # schedule (default): `frequency` makes a schedule; on_cron: `frequency` is the cron of
    # Dagster's AutomationCondition.on_cron; eager: AutomationCondition.eager (sync whenever
    # the source asset updates); both evaluated by the automation condition sensor
    automation: Literal["schedule", "on_cron", "eager"] = "schedule"
    # on_change: a sensor requests a sync only when the source moved past the stored state
    # (`frequency: continuous` implies it); checked every check_interval_s seconds
    trigger: Literal["schedule", "on_change"] = "schedule"
    check_interval_s: int = Field(default=30, ge=5, le=86_400)
    # time-partitioned objects: each schedule tick re-syncs the newest N complete partitions
    sync_latest_partitions: int = Field(default=1, ge=1, le=1000)
    freshness: FreshnessSpec | None = None
    backfill: BackfillSpec = BackfillSpec()
    retries: RetriesSpec | None = None
    # Whole-source merges delete target rows missing from the source unless switched off.
    delete_missing: bool | None = None
    # Skip writing when the source fingerprint equals the one stored with the target.
    skip_unchanged: bool = True
    # change_tracking / cdf: how changes are read, and whether deletes only mark `_is_deleted`
    change_mode: ChangeMode = "full_incremental"
    soft_delete: bool = False
    # Delta targets with maintenance.optimize: z-order the files on these columns
    zorder_by: list[str] = Field(default_factory=list)
    # watermark syncs: re-read rows up to this far behind the stored watermark too, so a row
    # committed late with an older sync_column value is not lost ("2h", "30m", "1d", ISO 8601)
    lookback: dt.timedelta | None = None
    checks: ChecksSpec | None = None
    # sync_type hash: the columns whose values make the row hash (default: every column but
    # the merge keys), or the columns left out of it (audit columns whose changes alone must
    # not rewrite a row), and the target column that stores the hash
    hash_columns: list[str] | None = None
    exclude_columns: list[str] = Field(default_factory=list)
    hash_key: str = Field(default="_sync_hash", pattern=IDENT)
    # md5: of the canonical row text, the same in every engine; native: the source engine's own
    # 64-bit hash of the typed values (PostgreSQL, DuckDB), fastest, not comparable across
    # engines or their versions (a change rewrites every row once)
    hash_algo: Literal["md5", "native"] = "md5"
    # 1: a target row per key, overwritten; 2: a history row per version of each key
    scd_type: Literal[1, 2] = 1
    scd: ScdSpec = ScdSpec()
    # rows holding a value the target cannot hold exactly: fail the sync (nothing written), or
    # quarantine them in rejects/<object_id>/*.jsonl and apply the rest
    on_bad_rows: Literal["fail", "quarantine"] = "fail"
    # the SQL dialect filter_condition, column_mappings and source.query are written in, when
    # not the source's (e.g. tsql on a DuckDB source): sqlglot transpiles them at load time
    dialect: Literal["tsql", "postgres", "duckdb", "snowflake", "spark", "databricks"] | None = None
    # several ways of syncing this one table, each with its own schedule (seed 002)
    strategies: list[StrategySpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _first_strategy(cls, data):
        """With `strategies:`, the object's sync fields default to its first strategy's."""
        if not isinstance(data, dict) or not isinstance(data.get("strategies"), list):
            return data
        first = data["strategies"][0] if data["strategies"] else None
        if not isinstance(first, dict):
            return data
        given = sorted(set(STRATEGY_FIELDS) & set(data))
        if given:
            raise ValueError(
                f"{given[0]}: with strategies, {', '.join(given)} belong to each strategy "
                "(the object's runs are its first strategy's); move them there"
            )
        merged = dict(data)
        merged.update({k: v for k, v in first.items() if k in STRATEGY_FIELDS and k != "frequency"})
        return merged

    @field_validator("column_mappings")
    @classmethod
    def _target_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        """Target column names are names: an expression there is the other tools' mapping
        form (target: expression) written into ours (expression: target)."""
        for expr, target in (value or {}).items():
            if not target.strip() or set(target) & set("(),;\n"):
                hint = (
                    f"; column_mappings map a source column or expression to the target column, so "
                    f'write {{"{target}": "{expr}"}}'
                    if _NAME.fullmatch(expr)
                    else ""
                )
                raise ValueError(f"'{target}' is not a column name (mapped from '{expr}'){hint}")
        return value

    @field_validator("lookback", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value)

    @property
    def watches_source(self) -> bool:
        """Whether a change sensor syncs the object (trigger on_change, or continuous)."""
        continuous = self.frequency is not None and self.frequency.every == "continuous"
        return self.trigger == "on_change" or continuous

    @model_validator(mode="after")
    def _sync_type_fields(self) -> SyncObject:
        if self.sync_type == "merge" and not self.merge_keys:
            raise ValueError("merge_keys: sync_type merge needs at least one merge key")
        if self.sync_type in ("incremental", "append_only") and not self.sync_column:
            raise ValueError(f"sync_column: sync_type {self.sync_type} needs a sync_column")
        if self.sync_type in CHANGE_SYNC_TYPES:
            if not self.merge_keys:
                raise ValueError(
                    f"merge_keys: sync_type {self.sync_type} needs the table's key columns"
                )
            if self.sync_column or self.partition:
                raise ValueError(
                    f"sync_type {self.sync_type} reads changes by version: drop sync_column and partition"
                )
            if self.source.query:
                raise ValueError(
                    f"source.query: {self.sync_type} reads the changes of a table (schema + object)"
                )
        elif self.soft_delete and not self.deletes_missing:
            raise ValueError(
                "soft_delete: only syncs that see deletes can mark them: change_tracking, cdf, "
                "hash, and merge without sync_column (which deletes rows missing from the source)"
            )
        self._hash_fields()
        self._scd_fields()
        if self.strategies is not None:
            self._strategies_valid()
        if self.lookback is not None:
            if not self.sync_column or self.sync_type == "full":
                raise ValueError(
                    "lookback: only watermark syncs (a sync_column) re-read a lookback window"
                )
            if not self.merge_keys:
                raise ValueError(
                    "lookback: re-read rows are upserted on merge_keys (appending them again would "
                    "duplicate them): add merge_keys"
                )
            if self.lookback <= dt.timedelta(0):
                raise ValueError("lookback: give a positive duration, e.g. 2h")
        if self.delete_missing and (self.sync_column or self.sync_type not in ("merge", "hash")):
            raise ValueError(
                "delete_missing: only a whole-source merge or hash sync (no sync_column) can "
                "detect deletes"
            )
        return self

    def _scd_fields(self) -> None:
        """History needs keys and a sync that sees changes; closing a version is its delete."""
        if self.scd_type == 1:
            return
        if self.sync_type not in ("merge", "incremental", "hash", "change_tracking", "cdf"):
            raise ValueError(
                f"scd_type: sync_type {self.sync_type} keeps no history; scd_type 2 works with "
                "merge, incremental, hash, change_tracking and cdf"
            )
        if not self.merge_keys:
            raise ValueError("merge_keys: scd_type 2 keeps versions per key: give merge_keys")
        if self.soft_delete:
            raise ValueError(
                "soft_delete: scd_type 2 closes a deleted key's current version (valid_to, "
                "is_current false) and keeps it; drop soft_delete"
            )
        scd_names = {self.scd.valid_from, self.scd.valid_to, self.scd.is_current}
        clash = scd_names & (set(self.merge_keys) | set((self.column_mappings or {}).values()))
        if clash:
            raise ValueError(f"scd: {sorted(clash)} are names of synced columns; rename them")

    def _hash_fields(self) -> None:
        """hash needs keys and compares every row; the hash fields belong to it alone."""
        if self.sync_type != "hash":
            for name in ("hash_columns", "exclude_columns"):
                if getattr(self, name):
                    raise ValueError(f"{name}: only sync_type hash hashes rows")
            return
        if not self.merge_keys:
            raise ValueError("merge_keys: sync_type hash compares rows by key: give merge_keys")
        if self.sync_column:
            raise ValueError(
                "sync_column: sync_type hash compares every row (in the partition window) by its "
                "hash; drop sync_column, or use sync_type merge for a watermark"
            )
        if self.hash_columns is not None and self.exclude_columns:
            raise ValueError(
                "exclude_columns: give hash_columns (what is hashed) or exclude_columns (what "
                "is not), not both"
            )
        if self.hash_columns == []:
            raise ValueError("hash_columns: name at least one column (or leave it out: all)")
        if self.column_mappings and self.hash_key in self.column_mappings.values():
            raise ValueError(
                f"hash_key: '{self.hash_key}' is the column that stores the row hash; no mapping "
                "may write it (rename the mapping or set hash_key)"
            )
        overlap = set(self.merge_keys) & set(self.exclude_columns)
        if overlap:
            raise ValueError(f"exclude_columns: {sorted(overlap)} are merge keys")

    def _strategies_valid(self) -> None:
        names = [s.name for s in self.strategies or []]
        if self.strategies == []:
            raise ValueError("strategies: give at least one strategy (or leave it out)")
        if len(set(names)) != len(names):
            raise ValueError(f"strategies: names must be unique, got {names}")
        kinds = {s.sync_type for s in self.strategies or []}
        if len(kinds) > 1 and not self.merge_keys:
            # a watermark run after a full or hash run re-reads rows: only an upsert keeps
            # them single
            raise ValueError(
                "merge_keys: strategies of different sync types share one target and state, "
                "so rows are upserted on merge_keys: give merge_keys"
            )
        for index, strategy in enumerate(self.strategies or []):
            try:
                self.variant(strategy.name)
            except ValueError as exc:
                field, message = _split(exc)
                where = f"strategies.{index}" + (f".{field}" if field else "")
                raise ValueError(f"{where}: {message} (strategy {strategy.name})") from None

    def variant(self, strategy: str | None) -> SyncObject:
        """The object as strategy `strategy` runs it (itself without strategies or name)."""
        if not self.strategies or strategy is None:
            return self
        chosen = {s.name: s for s in self.strategies}.get(strategy)
        if chosen is None:
            known = ", ".join(s.name for s in self.strategies)
            raise ValueError(f"strategy '{strategy}' is not one of this object's ({known})")
        fields = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        fields.pop("strategies")
        for name in self.strategies[0].overrides():  # the first strategy's, not the object's
            fields.pop(name, None)
        fields.update(chosen.overrides())
        fields.pop("frequency", None)  # a strategy's schedule is its own (automation.py)
        return SyncObject.model_validate(fields)

    @property
    def default_strategy(self) -> str | None:
        return self.strategies[0].name if self.strategies else None

    @property
    def target_columns_by_source(self) -> dict[str, str] | None:
        """column_mappings as given: source column or expression -> target column."""
        return self.column_mappings

    def target_column_for(self, source_column: str) -> str | None:
        """The target column a source column lands in, or None if it is not carried."""
        if self.column_mappings is None:
            return source_column
        for expr, target in self.column_mappings.items():
            if expr.strip().strip('"') == source_column:
                return target
        return None

    @property
    def deletes_missing(self) -> bool:
        """Whether target rows absent from the source are deleted by this object's merges."""
        if self.delete_missing is not None:
            return self.delete_missing
        return self.sync_type in ("merge", "hash") and not self.sync_column


_FIELD_FIRST = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.S)


def _split(exc: Exception) -> tuple[str, str]:
    """(field, message) of a validation error's first problem ("" if it names no field)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return "", str(exc)
    first = errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    named = _FIELD_FIRST.match(message)
    if not where and named:
        return named.group(1), named.group(2)
    return where, message


HISTORY_TABLES = ("object_runs", "runs", "failures")


class RunHistorySpec(_Strict):
    """`run_history:` (seed 003's `sync_to`): Dagster's run records replicated to tables of a
    target connection that SQL users and Power BI can query (history.py)."""

    connection: str
    schema_: str = Field(default="sync_history", alias="schema", pattern=IDENT)
    # incremental: events after the stored cursor; full: replace the tables each time
    mode: Literal["incremental", "full"] = "incremental"
    # only runs and events of the last N days (None: all Dagster still holds)
    sync_last_days: int | None = Field(default=90, ge=1)
    tables: list[Literal["object_runs", "runs", "failures"]] = list(HISTORY_TABLES)
    # the replication sensor starts running (else stopped until turned on)
    enabled: bool = False
    interval_s: int = Field(default=30, ge=5, le=86_400)


class PbipFolderSource(_Strict):
    """Semantic models kept in git: every `<name>.SemanticModel` folder under `path`."""

    type: Literal["pbip_folder"]
    path: str


class FabricWorkspaceSource(_Strict):
    """The semantic models of a Fabric workspace, through the Fabric REST API (Entra ID
    authentication as the other Azure connections)."""

    type: Literal["fabric_workspace"]
    workspace_id: str
    api_url: str = "https://api.fabric.microsoft.com"
    format: Literal["TMDL", "TMSL"] = "TMDL"
    # definitions: every tick reads each model's definition (one getDefinition per model);
    # scanner: a tick first asks the admin API whether the workspace changed since the last
    # full check, and reads nothing when it did not (needs read-only admin API rights)
    changes_from: Literal["definitions", "scanner"] = "definitions"
    admin_api_url: str = "https://api.powerbi.com/v1.0/myorg"
    authentication: Literal["default", "service_principal", "managed_identity", "azure_cli"] = (
        "default"
    )
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @model_validator(mode="after")
    def _who(self) -> FabricWorkspaceSource:
        _check_service_principal(self)
        return self


class SyncTablesSpec(_Strict):
    """`semantic_models.sync_tables:` the models' tables synced into the semantic target
    through generated sync objects (semantic/tables.py), so the semantic views have data.

    A table is synced when its Direct Lake entity or M source names a database one of the
    connections is: `sources` maps a model expression name (`DatabaseQuery`) or its
    `server/database` / `workspace/lakehouse` to a connection; without an entry, the one
    tsql / fabric_lakehouse connection with the same server and database (workspace and
    lakehouse) is used. Tables keep their source schema unless `schema` is given.
    """

    schema_: str | None = Field(default=None, alias="schema", pattern=IDENT)
    sources: dict[str, str] = Field(default_factory=dict)
    sync_type: Literal["full"] = "full"
    # eager: each table syncs when it is missing and after its source table's sync; add a
    # `frequency` (automation: schedule / on_cron) for sources no sync object writes
    automation: Literal["schedule", "on_cron", "eager"] = "eager"
    frequency: Frequency | None = None
    enabled: bool = False
    # Fabric workspace models are read from the API by the sensor, not at load time: the
    # table objects come from the definitions it last synced, kept in this file
    cache: str = ".sync_assets/semantic_tables.json"


class SemanticModelsSpec(_Strict):
    """`semantic_models:` (seed 001): models found in `source` synced to the Snowflake
    connection `target` as metadata tables and semantic views (semantic/)."""

    source: Annotated[PbipFolderSource | FabricWorkspaceSource, Field(discriminator="type")]
    target: str
    schema_: str = Field(default="SEMANTIC", alias="schema")
    # create each model's semantic view (false: only record its text in the metadata)
    create_views: bool = True
    interval_s: int = Field(default=300, ge=30, le=86_400)
    # the detection sensor starts running (else stopped until turned on)
    enabled: bool = False
    # true (defaults) or the settings: sync the models' tables too
    sync_tables: SyncTablesSpec | None = None

    @field_validator("sync_tables", mode="before")
    @classmethod
    def _flag(cls, value):
        if value is True:
            return {}
        return None if value is False else value


class ProjectConfig(_Strict):
    """Everything loaded from the configs folder."""

    connections: dict[str, Connection]
    sync_objects: list[SyncObject]
    run_history: RunHistorySpec | None = None
    semantic_models: SemanticModelsSpec | None = None
    # semantic_models.sync_tables: model id -> model table -> its generated object_id, and
    # model id -> model table -> why it is not synced
    semantic_tables: dict[str, dict[str, str]] = Field(default_factory=dict)
    semantic_skipped: dict[str, dict[str, str]] = Field(default_factory=dict)
    # file each object came from, for error messages raised after loading
    sources: dict[str, str] = Field(default_factory=dict)
    # the aliases rewritten per object (config/aliases.py), for `validate --explain`
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    # connection -> {dotted field: variable} for fields given as Dagster's EnvVar
    # (`{env: VAR}`); the IO managers declare them, so the UI names the variables
    env_vars: dict[str, dict[str, str]] = Field(default_factory=dict)

    def active_objects(self) -> list[SyncObject]:
        return [o for o in self.sync_objects if o.active]
