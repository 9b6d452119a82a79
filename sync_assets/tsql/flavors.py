"""What differs between the systems the ODBC writer talks to.

Each flavor records the facts the statement builders and the writer branch on, with the
reason next to it. Sources: Microsoft's documentation of each product (Fabric Warehouse data
types and transactions, Synapse dedicated SQL pool transactions and table design, MERGE).

`postgres` is PostgreSQL reached through psqlODBC with the same writer: it proves the ODBC
plumbing end to end where no SQL Server runs, and serves users for whom ODBC is the way in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str
    dialect: str  # "tsql" or "postgres": how identifiers, literals and DDL are spelled
    # one MERGE statement applies a batch; otherwise delete + insert (+ update for soft deletes)
    has_merge: bool
    # CREATE/ALTER TABLE may run inside the data transaction
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


SQLSERVER = Flavor(
    name="sqlserver", dialect="tsql", has_merge=True, ddl_in_transaction=True, temp_staging=True,
    text_type="NVARCHAR(MAX)", tz_type="DATETIMEOFFSET", max_time_precision=7, tinyint=True,
    merge_holdlock=True,
)

# Synapse dedicated SQL pool: no DDL inside a user transaction; default isolation is READ
# UNCOMMITTED; clustered columnstore cannot hold (N)VARCHAR(MAX), so tables are HEAPs
# (ROUND_ROBIN distribution, the documented default for staging and unknown access paths).
# MERGE is generally available since 2022 (no HOLDLOCK hint there).
SYNAPSE = Flavor(
    name="synapse", dialect="tsql", has_merge=True, ddl_in_transaction=False, temp_staging=False,
    text_type="NVARCHAR(MAX)", tz_type="DATETIMEOFFSET", max_time_precision=7, tinyint=True,
    table_options="DISTRIBUTION = ROUND_ROBIN, HEAP", staging_options="DISTRIBUTION = ROUND_ROBIN, HEAP",
    copy_into=True,
)

# Fabric Warehouse: no NVARCHAR/NCHAR (VARCHAR with the UTF-8 collation instead), no
# DATETIMEOFFSET, DATETIME2/TIME at most 6 digits, no TINYINT; snapshot isolation only;
# CREATE TABLE is allowed in a transaction but ALTER TABLE is not; MERGE is in preview, so
# batches are applied with delete + insert.
FABRIC_WAREHOUSE = Flavor(
    name="fabric_warehouse", dialect="tsql", has_merge=False, ddl_in_transaction=False, temp_staging=False,
    text_type="VARCHAR(MAX)", tz_type=None, max_time_precision=6, tinyint=False, copy_into=True,
)

POSTGRES = Flavor(
    name="postgres", dialect="postgres", has_merge=True, ddl_in_transaction=True, temp_staging=True,
    text_type="text", tz_type="timestamptz", max_time_precision=6, tinyint=False,
)

FLAVORS = {f.name: f for f in (SQLSERVER, SYNAPSE, FABRIC_WAREHOUSE, POSTGRES)}
