"""T-SQL text: golden statements per flavor, parsed back with sqlglot's tsql dialect, the
explicit type mapping, ODBC connection strings and Entra ID tokens, and COPY INTO staging.

These are verified by text only (no SQL Server, Synapse or Fabric endpoint runs here); the
PostgreSQL rendering of the same writer runs for real in the sync-type, partition and kill -9
matrices (target kind `odbc`). Regenerate the golden files after a deliberate change with
SYNC_ASSETS_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from sync_assets.config.models import CopyStaging, TsqlConnection
from sync_assets.secrets import connection_secrets
from sync_assets.sql import statements as sql
from sync_assets.sql.flavors import DUCKDB, FABRIC_WAREHOUSE, FLAVORS, POSTGRES, SQLSERVER, SYNAPSE
from sync_assets.tsql import odbc
from sync_assets.tsql.copy_staging import CopyStager, service_url
from sync_assets.tsql.types import arrow_type_of, sql_type, storage_type
from sync_assets.types import SchemaChangeError
from sync_assets_tests.tsql_script import render, script

GOLDEN = Path(__file__).parent / "golden"
# CHANGETABLE(CHANGES …) is not in sqlglot's grammar: that text is checked as text only
UNPARSED = {"change tracking: changes"}
# a batch of several statements (SET NOCOUNT ON; DECLARE; EXEC; SELECT): parsed one by one
BATCHES = {"writer lock: take"}


@pytest.mark.parametrize("flavor", [*FLAVORS, "duckdb"])
def test_statements_match_golden_text(flavor):
    """One statement builder for every SQL target: its text per flavor (Snowflake's in
    test_snowflake.py)."""
    path = GOLDEN / f"{flavor}.sql"
    text = render(DUCKDB if flavor == "duckdb" else FLAVORS[flavor])
    if os.environ.get("SYNC_ASSETS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("flavor", ["sqlserver", "synapse", "fabric_warehouse"])
def test_tsql_statements_parse_and_round_trip(flavor):
    for label, statement in script(FLAVORS[flavor]):
        if label in UNPARSED:
            continue
        if label in BATCHES:
            parts = sqlglot.parse(statement, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
            assert all(parts), f"{flavor} {label}: an empty statement"
            continue
        parsed = sqlglot.parse_one(statement, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
        again = sqlglot.parse_one(
            parsed.sql("tsql"), read="tsql", error_level=sqlglot.ErrorLevel.RAISE
        )
        assert again == parsed, f"{flavor} {label}: does not round-trip"


def test_flavor_differences_show_in_the_text():
    fabric, synapse, sqlserver = (dict(script(f)) for f in (FABRIC_WAREHOUSE, SYNAPSE, SQLSERVER))
    assert "VARCHAR(MAX)" in fabric["create target"] and "NVARCHAR" not in fabric["create target"]
    assert (
        "DATETIME2(6)" in fabric["create target"]
        and "DATETIMEOFFSET(6)" in sqlserver["create target"]
    )
    assert "merge" not in fabric and "merge: delete changed" in fabric  # MERGE is preview on Fabric
    assert synapse["create target"].endswith("WITH (DISTRIBUTION = ROUND_ROBIN, HEAP)")
    assert "WITH (HOLDLOCK)" in sqlserver["merge"] and "HOLDLOCK" not in synapse["merge"]
    assert (
        "[#__sync_stage]" in sqlserver["create staging"]
        and "[_sync_assets].[stage_orders]" in synapse["create staging"]
    )


# ----------------------------------------------------------------------------- types

ARROW = [
    pa.bool_(),
    pa.int8(),
    pa.uint8(),
    pa.int16(),
    pa.int32(),
    pa.uint32(),
    pa.int64(),
    pa.uint64(),
    pa.float32(),
    pa.float64(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.date32(),
    pa.timestamp("s"),
    pa.timestamp("ms"),
    pa.timestamp("us"),
    pa.timestamp("ns"),
    pa.timestamp("us", tz="UTC"),
    pa.time64("us"),
    pa.decimal128(12, 2),
    pa.decimal128(38, 10),
    pa.list_(pa.int32()),
    pa.struct([("a", pa.int32())]),
    pa.dictionary(pa.int32(), pa.string()),
    pa.uuid(),
    pa.json_(),
]

EXPECTED = {
    "sqlserver": [
        "BIT",
        "SMALLINT",
        "TINYINT",
        "SMALLINT",
        "INT",
        "BIGINT",
        "BIGINT",
        "DECIMAL(20,0)",
        "REAL",
        "FLOAT",
        "NVARCHAR(MAX)",
        "NVARCHAR(MAX)",
        "VARBINARY(MAX)",
        "DATE",
        "DATETIME2(0)",
        "DATETIME2(3)",
        "DATETIME2(6)",
        "DATETIME2(7)",
        "DATETIMEOFFSET(6)",
        "TIME(6)",
        "DECIMAL(12,2)",
        "DECIMAL(38,10)",
        "NVARCHAR(MAX)",
        "NVARCHAR(MAX)",
        "NVARCHAR(MAX)",
        "UNIQUEIDENTIFIER",
        "NVARCHAR(MAX)",
    ],
    "fabric_warehouse": [
        "BIT",
        "SMALLINT",
        "SMALLINT",
        "SMALLINT",
        "INT",
        "BIGINT",
        "BIGINT",
        "DECIMAL(20,0)",
        "REAL",
        "FLOAT",
        "VARCHAR(MAX)",
        "VARCHAR(MAX)",
        "VARBINARY(MAX)",
        "DATE",
        "DATETIME2(0)",
        "DATETIME2(3)",
        "DATETIME2(6)",
        "DATETIME2(6)",
        "DATETIME2(6)",
        "TIME(6)",
        "DECIMAL(12,2)",
        "DECIMAL(38,10)",
        "VARCHAR(MAX)",
        "VARCHAR(MAX)",
        "VARCHAR(MAX)",
        "UNIQUEIDENTIFIER",
        "VARCHAR(MAX)",
    ],
}


@pytest.mark.parametrize("flavor", list(EXPECTED))
def test_type_mapping_table(flavor):
    assert [sql_type(t, FLAVORS[flavor]) for t in ARROW] == EXPECTED[flavor]


@pytest.mark.parametrize("flavor", ["sqlserver", "synapse", "fabric_warehouse"])
def test_reading_a_column_back_gives_its_storage_type(flavor):
    f = FLAVORS[flavor]
    for t in ARROW:
        text = sql_type(t, f)
        name, _, args = text.partition("(")
        nums = [int(a) for a in args.rstrip(")").split(",") if a and a != "MAX"]
        precision, scale = (nums + [None, None])[:2] if name == "DECIMAL" else (None, None)
        dt_precision = nums[0] if name in ("DATETIME2", "DATETIMEOFFSET", "TIME") else None
        assert arrow_type_of(name, precision, scale, dt_precision) == storage_type(t, f), (
            flavor,
            t,
            text,
        )


def test_types_without_a_column_type_are_errors():
    # decimals past 38 digits and intervals are kept as their exact text
    assert sql_type(pa.decimal256(50, 2), SQLSERVER) == "NVARCHAR(MAX)"
    assert sql_type(pa.month_day_nano_interval(), SQLSERVER) == "NVARCHAR(MAX)"
    with pytest.raises(SchemaChangeError, match="no fabric_warehouse column type"):
        sql_type(pa.duration("s"), FABRIC_WAREHOUSE)
    assert sql_type(pa.timestamp("us", tz="UTC"), POSTGRES) == "timestamptz"


# ----------------------------------------------------------------------------- connections


def test_connection_strings_per_flavor_and_auth():
    sql_login = TsqlConnection(
        type="tsql",
        server="db.example.net",
        port=1433,
        database="sales",
        user="loader",
        password="p;w{d}",
        options={"ApplicationIntent": "ReadOnly"},
    )
    assert odbc.connection_string(sql_login) == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:db.example.net,1433;DATABASE=sales;Encrypt=yes;"
        "TrustServerCertificate=no;UID=loader;PWD={p;w{d}}};ApplicationIntent=ReadOnly"
    )
    entra = TsqlConnection(
        type="tsql",
        flavor="fabric_warehouse",
        server="x.datawarehouse.fabric.microsoft.com",
        database="wh",
        authentication="service_principal",
        tenant_id="t",
        client_id="c",
        client_secret="s3cret",
        driver="ODBC Driver 18 for SQL Server",
    )
    text = odbc.connection_string(entra)
    assert (
        "UID" not in text and "PWD" not in text and "s3cret" not in text
    )  # the token goes pre-connect
    assert connection_secrets(entra) == ["s3cret"]


def test_access_token_layout():
    packed = odbc.access_token_struct("abc")
    assert struct.unpack("<I", packed[:4])[0] == 6 and packed[4:] == "abc".encode("utf-16-le")


def test_service_principal_needs_its_fields():
    with pytest.raises(ValueError, match="needs tenant_id, client_secret"):
        TsqlConnection(
            type="tsql", server="s", database="d", authentication="service_principal", client_id="c"
        )


# ----------------------------------------------------------------------------- COPY INTO staging


def test_copy_staging_writes_parquet_parts_and_cleans_up(tmp_path):
    stager = CopyStager(CopyStaging(url=str(tmp_path / "stage")), "orders")
    schema = pa.schema([("id", pa.int64()), ("note", pa.string())])
    batches = [
        pa.record_batch([pa.array(range(i, i + 10)), pa.array(["n"] * 10)], schema=schema)
        for i in (0, 10)
    ]
    assert stager.write_files(pa.RecordBatchReader.from_batches(schema, batches)) == 20
    files = list(Path(stager.folder).glob("*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).num_rows == 20
    stager.remove_files()
    assert not Path(stager.folder).exists()


def test_copy_into_reads_the_https_form_of_abfss_urls():
    assert (
        service_url("abfss://staging@acct.dfs.core.windows.net/sync/orders")
        == "https://acct.dfs.core.windows.net/staging/sync/orders"
    )
    assert (
        service_url("https://onelake.dfs.fabric.microsoft.com/ws/lh.Lakehouse/Files/x")
        == "https://onelake.dfs.fabric.microsoft.com/ws/lh.Lakehouse/Files/x"
    )


def test_bind_widths_follow_the_batch_and_max_types_bind_unbounded():
    import pyodbc

    batch = pa.record_batch(
        [pa.array(["ab", None, "x" * 5000]), pa.array([b"1", None, b"22"])], names=["t", "b"]
    )
    assert odbc.input_sizes(batch, SQLSERVER) == [
        (pyodbc.SQL_WVARCHAR, 0, 0),
        (pyodbc.SQL_VARBINARY, 2, 0),
    ]
    assert odbc.input_sizes(batch, POSTGRES)[0] == (
        pyodbc.SQL_WVARCHAR,
        5000,
        0,
    )  # 0 crashes psqlODBC


def test_instants_are_bound_as_utc_wall_time():
    import datetime as dt

    ts = pa.array(
        [dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)], pa.timestamp("us", tz="Europe/Paris")
    )
    assert odbc.bind_columns(pa.record_batch([ts], names=["ts"])) == [
        (dt.datetime(2025, 1, 1, 12),)
    ]


def test_connection_table_options_override_the_flavor_default():
    conn = TsqlConnection(
        type="tsql",
        flavor="synapse",
        server="s",
        database="d",
        table_options="DISTRIBUTION = HASH([id]), CLUSTERED COLUMNSTORE INDEX",
    )
    flavor = odbc.flavor_of(conn)
    assert flavor.table_options == "DISTRIBUTION = HASH([id]), CLUSTERED COLUMNSTORE INDEX"
    assert flavor.staging_options == SYNAPSE.staging_options  # staging stays a round-robin heap


def test_declared_lengths_size_text_columns():
    from sync_assets.tsql.types import column_type

    assert column_type(pa.string(), SQLSERVER, 50)[0] == "NVARCHAR(50)"
    assert column_type(pa.string(), SQLSERVER, 5000)[0] == "NVARCHAR(MAX)"  # beyond NVARCHAR(4000)
    assert column_type(pa.string(), FABRIC_WAREHOUSE, 5000)[0] == "VARCHAR(5000)"
    assert (
        column_type(pa.list_(pa.int8()), SQLSERVER, 50)[0] == "NVARCHAR(MAX)"
    )  # JSON is never sized


def test_writer_lock_per_flavor():
    """SQL Server / Azure SQL hold sp_getapplock (session-owned, never waiting inside the
    engine: the caller polls); Synapse and Fabric Warehouse have no application lock and rely
    on their transaction; PostgreSQL (through ODBC) takes an advisory lock."""
    take, release = sql.writer_lock_sql(SQLSERVER)
    assert "sp_getapplock @Resource = ?" in take and "@LockOwner = 'Session'" in take
    assert "@LockTimeout = 0" in take and release.startswith("EXEC sp_releaseapplock")
    assert sql.writer_lock_sql(SYNAPSE) is None and sql.writer_lock_sql(FABRIC_WAREHOUSE) is None
    assert "pg_try_advisory_lock" in sql.writer_lock_sql(POSTGRES)[0]
    long_name = sql.lock_resource("[" + "x" * 300 + "].[t]")
    assert len(long_name) <= 255 and long_name != sql.lock_resource("[" + "x" * 301 + "].[t]")
