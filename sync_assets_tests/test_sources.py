"""Sources other than DuckDB: a real PostgreSQL server, Parquet files and Delta tables."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sync_assets_tests.harness import Project, assert_same_rows


def pg_source(uri: str, n: int = 2000) -> None:
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute("""
            CREATE SCHEMA shop;
            CREATE TABLE shop.orders (
                id bigint PRIMARY KEY, customer_id int, status text, amount numeric(12,2),
                ratio numeric, note text, doc jsonb, created_at timestamptz, updated_at timestamp, day date)""")
        con.execute(f"""
            INSERT INTO shop.orders SELECT g, g % 97, (ARRAY['a','b','c'])[1 + g % 3], (g * 1.5)::numeric(12,2),
                   (g / 7.0)::numeric(20,6), 'note ' || g, jsonb_build_object('g', g),
                   timestamptz '2025-01-01 00:00:00+00' + g * interval '1 minute',
                   timestamp '2025-01-01' + g * interval '1 second', date '2025-01-01' + (g % 5)
            FROM generate_series(1, {n}) g""")


def pg_rows(uri: str, where: str = "TRUE") -> pa.Table:
    with psycopg.connect(uri) as con:
        rows = con.execute(
            f"SELECT id, customer_id, status, amount, note, created_at, updated_at, day FROM shop.orders WHERE {where}"
        ).fetchall()
    names = ["id", "customer_id", "status", "amount", "note", "created_at", "updated_at", "day"]
    types = [
        pa.int64(),
        pa.int32(),
        pa.string(),
        pa.decimal128(12, 2),
        pa.string(),
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("us"),
        pa.date32(),
    ]
    return pa.table(
        {
            n: pa.array([r[i] for r in rows], t)
            for i, (n, t) in enumerate(zip(names, types, strict=True))
        }
    )


@pytest.mark.parametrize("target_kind", ["delta", "parquet", "duckdb", "postgres"])
def test_postgres_source_types_and_merge(tmp_path, pg_uri, target_conn):
    pg_source(pg_uri)
    spec = {
        "object_id": "pg_orders",
        "source": {"connection": "pg", "schema": "shop", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        "sync_type": "incremental",
        "sync_column": "updated_at",
        "merge_keys": ["id"],
        "filter_condition": "status <> 'c'",
        "batch_size": 500,
    }
    project = Project(
        tmp_path, {"pg": {"type": "postgres", "dsn": pg_uri}, "tgt": target_conn}, [spec]
    )
    meta = project.materialize("pg_orders")
    target = project.target_table("pg_orders")
    assert_same_rows(pg_rows(pg_uri, "status <> 'c'"), target, "id")
    assert target.schema.field("amount").type == pa.decimal128(12, 2)
    first = target.to_pylist()[0]
    assert isinstance(first["ratio"], decimal.Decimal) or first["ratio"] is not None

    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute(
            "UPDATE shop.orders SET amount = amount + 1, updated_at = timestamp '2026-01-01' WHERE id % 100 = 1"
        )
        con.execute(
            "INSERT INTO shop.orders SELECT 5000 + g, 1, 'a', 1.00, 1, 'late', '{}', now(), timestamp '2026-01-02', date '2025-01-02' FROM generate_series(1, 7) g"
        )
    meta = project.materialize("pg_orders")
    assert meta["sync/rows_inserted"] == 7
    assert_same_rows(pg_rows(pg_uri, "status <> 'c'"), project.target_table("pg_orders"), "id")


def test_postgres_source_unconstrained_numeric_overflow_is_an_error(tmp_path, pg_uri):
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("CREATE TABLE t (id int, v numeric); INSERT INTO t VALUES (1, 1.0000000000001)")
    spec = {
        "object_id": "t",
        "source": {"connection": "pg", "schema": "public", "object": "t"},
        "target": {"connection": "d", "object": "t"},
        "sync_type": "full",
    }
    project = Project(
        tmp_path,
        {
            "pg": {"type": "postgres", "dsn": pg_uri},
            "d": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
        },
        [spec],
    )
    # unconstrained NUMERIC is read as DECIMAL(38,9): a value with more decimals must fail
    # loudly, naming the object, rather than be rounded
    with pytest.raises(
        Exception,
        match=r"object_id 't': reading the source failed .*column 'v' holds 1.0000000000001 "
        r"\(the row with id = 1\), which does not fit DECIMAL\(38,9\)",
    ):
        project.materialize("t")
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"
        ).fetchone()[0]
        == 0
    )


def test_parquet_and_delta_sources(tmp_path):
    table = pa.table(
        {
            "id": pa.array(range(1, 1001), pa.int64()),
            "v": pa.array([float(i) / 3 for i in range(1, 1001)]),
            "at": pa.array(
                [dt.datetime(2025, 1, 1) + dt.timedelta(hours=i) for i in range(1000)],
                pa.timestamp("us"),
            ),
        }
    )
    (tmp_path / "files").mkdir()
    import pyarrow.parquet as pq

    pq.write_table(table.slice(0, 500), tmp_path / "files" / "a.parquet")
    pq.write_table(table.slice(500), tmp_path / "files" / "b.parquet")
    write_deltalake(str(tmp_path / "lake" / "dbo" / "events"), table)
    objects = [
        {
            "object_id": "from_parquet",
            "source": {"connection": "files", "object": "files"},
            "target": {"connection": "wh", "object": "from_parquet"},
            "sync_type": "full",
        },
        {
            "object_id": "from_delta",
            "source": {"connection": "lake", "schema": "dbo", "object": "events"},
            "target": {"connection": "wh", "object": "from_delta"},
            "sync_type": "append_only",
            "sync_column": "id",
            "partition": {
                "column": "at",
                "granularity": "daily",
                "start": "2025-01-01",
                "end": "2025-03-01",
            },
        },
    ]
    conns = {
        "files": {"type": "parquet", "root": str(tmp_path)},
        "lake": {"type": "delta", "root": str(tmp_path / "lake")},
        "wh": {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")},
    }
    project = Project(tmp_path, conns, objects)
    project.materialize("from_parquet")
    assert_same_rows(table, project.target_table("from_parquet"), "id")
    meta = project.materialize("from_delta", partition="2025-01-02")
    assert meta["dagster/partition_row_count"] == 24
    write_deltalake(
        str(tmp_path / "lake" / "dbo" / "events"),
        pa.table(
            {
                "id": pa.array([5000], pa.int64()),
                "v": [1.0],
                "at": pa.array([dt.datetime(2025, 1, 2, 5)], pa.timestamp("us")),
            }
        ),
        mode="append",
    )
    meta = project.materialize("from_delta", partition="2025-01-02")
    assert meta["sync/rows_inserted"] == 1 and meta["dagster/partition_row_count"] == 25


@pytest.mark.parametrize("target_kind", ["duckdb", "odbc"])
def test_odbc_source_reads_in_batches_and_merges(tmp_path, pg_uri, target_conn):
    """The ODBC source (pyodbc + unixODBC + psqlODBC against the test server): fetchmany
    batches become Arrow batches; filter, watermark and merge as with any source."""
    from sync_assets_tests.conftest import odbc_connection

    pg_source(pg_uri)
    spec = {
        "object_id": "odbc_orders",
        "source": {"connection": "src", "schema": "shop", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        "sync_type": "incremental",
        "sync_column": "updated_at",
        "merge_keys": ["id"],
        "filter_condition": "status <> 'c'",
        "batch_size": 300,
    }
    project = Project(tmp_path, {"src": odbc_connection(pg_uri), "tgt": target_conn}, [spec])
    meta = project.materialize("odbc_orders")
    assert meta["sync/rows_read"] == 1333
    columns = ["id", "customer_id", "status", "amount", "note", "updated_at", "day"]
    target = project.target_table("odbc_orders")
    assert_same_rows(pg_rows(pg_uri, "status <> 'c'").select(columns), target.select(columns), "id")
    assert target.schema.field("amount").type == pa.decimal128(12, 2)
    # psqlODBC has no zone-aware type: instants arrive as UTC wall time (the session is UTC)
    created = {r["id"]: r["created_at"] for r in target.select(["id", "created_at"]).to_pylist()}
    assert created[1].replace(tzinfo=None) == dt.datetime(2025, 1, 1, 0, 1)

    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute(
            "UPDATE shop.orders SET amount = amount + 1, updated_at = timestamp '2026-01-01' WHERE id % 100 = 1"
        )
        con.execute(
            "INSERT INTO shop.orders SELECT 5000 + g, 1, 'a', 1.00, 1, 'late', '{}', now(), timestamp '2026-01-02', date '2025-01-02' FROM generate_series(1, 7) g"
        )
    meta = project.materialize("odbc_orders")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (7, 13)
    assert_same_rows(
        pg_rows(pg_uri, "status <> 'c'").select(columns),
        project.target_table("odbc_orders").select(columns),
        "id",
    )
