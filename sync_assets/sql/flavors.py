"""What differs between the SQL engines the one SQL writer (`targets/sql_writer.py`) talks to.

Each flavor records the facts the statement builders (`sql/statements.py`) and the writer
branch on, one fact per field with the reason next to it. Sources: each product's
documentation (Fabric Warehouse data types and transactions, Synapse dedicated SQL pool
transactions and table design, MERGE in SQL Server, PostgreSQL 15, DuckDB and Snowflake).

`postgres` serves PostgreSQL both through ADBC (binary COPY) and through psqlODBC: the text is
the same, only the bulk load differs. Snowflake's flavor is in `snowflake/flavor.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str
    # how identifiers, literals and DDL are spelled: "tsql", "postgres", "duckdb", "snowflake"
    dialect: str
    # one MERGE statement applies a batch; otherwise delete-changed + insert-new
    has_merge: bool
    # CREATE/ALTER TABLE may run inside the data transaction; otherwise DDL and staging run
    # first, in autocommit, and only the apply + state upsert form the transaction
    ddl_in_transaction: bool
    # staging lives in a session temp table (#t / TEMP); otherwise a real table in _sync_assets
    temp_staging: bool
    # column type for text (and for JSON of nested values)
    text_type: str
    # a time-zone-aware timestamp type exists; otherwise instants are stored as UTC wall time
    tz_type: str | None
    # finest fractional-second digits of the timestamp type
    max_time_precision: int
    # the smallest integer type is unsigned 0..255 (T-SQL TINYINT) or absent (Fabric)
    tinyint: bool
    # WITH (...) options of CREATE TABLE for targets and for staging tables
    table_options: str | None = None
    staging_options: str | None = None
    # COPY INTO from Parquet in ADLS / OneLake is available for bulk staging
    copy_into: bool = False
    # HOLDLOCK hint on MERGE (SQL Server: serialises concurrent upserts of the same keys)
    merge_holdlock: bool = False
    # MERGE can delete target rows missing from the source (WHEN NOT MATCHED BY SOURCE):
    # T-SQL only; PostgreSQL 15 lacks it, so a separate DELETE runs there
    merge_by_source: bool = False
    # "Row differs" test: "intersect" (NOT EXISTS (… INTERSECT …), T-SQL: IS DISTINCT FROM is
    # missing on older servers), "row" (row-value IS DISTINCT FROM, PostgreSQL), or "columns"
    # (one parenthesised IS DISTINCT FROM per column: DuckDB, Snowflake, DataFusion)
    differs: str = "columns"
    # a merge first captures the rows it will write (new keys, changed rows) into a TEMP table
    # inside the transaction, in one join, and applies only those: cheap where temp tables
    # are (DuckDB, PostgreSQL). Otherwise a count query and the MERGE each join the whole batch.
    capture_changes: bool = False
    # the current instant (UTC) in the engine's own clock: state rows and soft-delete stamps
    now: str = "CURRENT_TIMESTAMP"
    # an engine-side writer lock held by a session (sql.writer_lock_sql): "advisory"
    # (PostgreSQL), "applock" (SQL Server / Azure SQL sp_getapplock), or None where the
    # engine has none (Synapse, Fabric Warehouse: their transaction; see locks.py)
    session_lock: str | None = None
    # JSON staged as text into a JSON-typed column (Snowflake VARIANT: PARSE_JSON({}))
    json_from_text: str | None = None

    def quote(self, name: str) -> str:
        """An identifier, quoted the engine's way."""
        if self.dialect == "tsql":
            return "[" + name.replace("]", "]]") + "]"
        return '"' + name.replace('"', '""') + '"'

    def true(self, expr: str) -> str:
        """`expr` (a boolean / BIT column) is true."""
        return f"{expr} = 1" if self.dialect == "tsql" else expr

    def false(self, expr: str) -> str:
        return f"{expr} = 0" if self.dialect == "tsql" else f"NOT {expr}"

    def boolean(self, value: bool) -> str:
        if self.dialect == "tsql":
            return "1" if value else "0"
        return "TRUE" if value else "FALSE"


SQLSERVER = Flavor(
    name="sqlserver",
    dialect="tsql",
    has_merge=True,
    ddl_in_transaction=True,
    temp_staging=True,
    text_type="NVARCHAR(MAX)",
    tz_type="DATETIMEOFFSET",
    max_time_precision=7,
    tinyint=True,
    merge_holdlock=True,
    merge_by_source=True,
    differs="intersect",
    now="SYSUTCDATETIME()",
    session_lock="applock",
)

# Synapse dedicated SQL pool: no DDL inside a user transaction; default isolation is READ
# UNCOMMITTED; clustered columnstore cannot hold (N)VARCHAR(MAX), so tables are HEAPs
# (ROUND_ROBIN distribution, the documented default for staging and unknown access paths).
# MERGE is generally available since 2022 (no HOLDLOCK hint there).
SYNAPSE = Flavor(
    name="synapse",
    dialect="tsql",
    has_merge=True,
    ddl_in_transaction=False,
    temp_staging=False,
    text_type="NVARCHAR(MAX)",
    tz_type="DATETIMEOFFSET",
    max_time_precision=7,
    tinyint=True,
    table_options="DISTRIBUTION = ROUND_ROBIN, HEAP",
    staging_options="DISTRIBUTION = ROUND_ROBIN, HEAP",
    copy_into=True,
    merge_by_source=True,
    differs="intersect",
    now="SYSUTCDATETIME()",
)

# Fabric Warehouse: no NVARCHAR/NCHAR (VARCHAR with the UTF-8 collation instead), no
# DATETIMEOFFSET, DATETIME2/TIME at most 6 digits, no TINYINT; snapshot isolation only;
# CREATE TABLE is allowed in a transaction but ALTER TABLE is not; MERGE is in preview, so
# batches are applied with delete + insert.
FABRIC_WAREHOUSE = Flavor(
    name="fabric_warehouse",
    dialect="tsql",
    has_merge=False,
    ddl_in_transaction=False,
    temp_staging=False,
    text_type="VARCHAR(MAX)",
    tz_type=None,
    max_time_precision=6,
    tinyint=False,
    copy_into=True,
    differs="intersect",
    now="SYSUTCDATETIME()",
)

# PostgreSQL 15+: MERGE (no BY SOURCE), transactional DDL, TEMP staging tables.
POSTGRES = Flavor(
    name="postgres",
    dialect="postgres",
    has_merge=True,
    ddl_in_transaction=True,
    temp_staging=True,
    text_type="text",
    tz_type="timestamptz",
    max_time_precision=6,
    tinyint=False,
    differs="row",
    capture_changes=True,
    session_lock="advisory",
)

# DuckDB 1.4+: MERGE INTO (used without BY SOURCE, as on PostgreSQL), transactional DDL; the
# stream is staged as a registered Arrow view (or a TEMP table when it is read more than once).
DUCKDB = Flavor(
    name="duckdb",
    dialect="duckdb",
    has_merge=True,
    ddl_in_transaction=True,
    temp_staging=True,
    text_type="VARCHAR",
    tz_type="TIMESTAMPTZ",
    max_time_precision=6,
    tinyint=True,
    capture_changes=True,
)

# Delta tables: predicates and MERGE conditions are parsed by DataFusion (delta-rs), which
# binds OR tighter than IS DISTINCT FROM, hence the parenthesised per-column comparisons.
DELTA = Flavor(
    name="delta",
    dialect="delta",
    has_merge=True,
    ddl_in_transaction=True,
    temp_staging=True,
    text_type="string",
    tz_type="timestamp",
    max_time_precision=6,
    tinyint=False,
)

# the flavors of `tsql` connections, by their `flavor` field (azure_sql is sqlserver)
FLAVORS = {f.name: f for f in (SQLSERVER, SYNAPSE, FABRIC_WAREHOUSE, POSTGRES)}
