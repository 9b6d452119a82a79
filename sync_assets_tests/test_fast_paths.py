"""The throughput paths: read-ahead of the source stream, and PostgreSQL's direct load.

They must be invisible in results: same rows, same errors, nothing left running.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pyarrow as pa
import pytest

from sync_assets.sources.postgres import connect
from sync_assets.streams import Prefetch
from sync_assets.targets.postgres import PostgresSqlSession
from sync_assets_tests.data import items_project
from sync_assets_tests.harness import assert_same_rows, duck, duck_table

SCHEMA = pa.schema([pa.field("i", pa.int64())])


def numbers(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"source broke at batch {i}")
        yield pa.record_batch([pa.array([i] * 10, pa.int64())], schema=SCHEMA)


def test_prefetch_passes_every_batch_in_order():
    ahead = Prefetch(pa.RecordBatchReader.from_batches(SCHEMA, numbers(50)), depth=2)
    values = [b.column(0)[0].as_py() for b in ahead.reader()]
    ahead.close()
    assert values == list(range(50))


def test_prefetch_raises_the_source_error_on_the_reading_side():
    ahead = Prefetch(pa.RecordBatchReader.from_batches(SCHEMA, numbers(10, fail_at=3)))
    with pytest.raises(ValueError, match="source broke at batch 3"):
        ahead.reader().read_all()
    ahead.close()


def test_prefetch_reads_at_most_depth_ahead_and_stops_when_closed():
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield pa.record_batch([pa.array([i], pa.int64())], schema=SCHEMA)
            i += 1

    ahead = Prefetch(pa.RecordBatchReader.from_batches(SCHEMA, endless()), depth=2)
    reader = ahead.reader()
    reader.read_next_batch()  # the writer took one batch, then failed
    time.sleep(0.3)
    assert len(pulled) <= 1 + 2 + 1  # taken, queued, and one in the producer's hand
    ahead.close()
    assert not any(t.name == "sync-read-ahead" and t.is_alive() for t in threading.enumerate())


def _relfilenode(uri: str, table: str) -> int:
    with psycopg.connect(uri) as con:
        return con.execute(
            f"SELECT relfilenode FROM pg_class WHERE oid = '{table}'::regclass"
        ).fetchone()[0]


def test_full_replace_into_postgres_truncates_and_loads_directly(tmp_path, pg_uri):
    project, src = items_project(
        tmp_path,
        {"type": "postgres", "dsn": pg_uri},
        rows=200,
        sync_type="full",
        skip_unchanged=False,
    )
    project.materialize("items_sync")
    first = _relfilenode(pg_uri, "sales.items")
    duck(
        src,
        "UPDATE items SET amount = amount + 1 WHERE id % 3 = 0",
        "DELETE FROM items WHERE id > 190",
    )
    meta = project.materialize("items_sync")
    # TRUNCATE gives the table new storage; a DELETE would have kept it, full of dead rows
    assert _relfilenode(pg_uri, "sales.items") != first
    assert (meta["sync/rows_inserted"], meta["sync/rows_deleted"]) == (190, 200)
    assert_same_rows(
        duck_table(src, "SELECT * FROM items"), project.target_table("items_sync"), "id"
    )


def test_full_replace_of_a_referenced_postgres_table_deletes_instead(tmp_path, pg_uri):
    project, src = items_project(
        tmp_path,
        {"type": "postgres", "dsn": pg_uri},
        rows=50,
        sync_type="full",
        skip_unchanged=False,
    )
    project.materialize("items_sync")
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("ALTER TABLE sales.items ADD PRIMARY KEY (id)")
        con.execute("CREATE TABLE public.notes (item_id bigint REFERENCES sales.items (id))")
    before = _relfilenode(pg_uri, "sales.items")
    duck(src, "UPDATE items SET amount = amount + 1")
    project.materialize("items_sync")
    assert _relfilenode(pg_uri, "sales.items") == before
    assert_same_rows(
        duck_table(src, "SELECT * FROM items"), project.target_table("items_sync"), "id"
    )


def test_direct_load_only_when_every_column_takes_the_stream_as_is(pg_uri):
    con = connect(pg_uri)
    try:
        s = PostgresSqlSession(con)
        s.execute(
            "CREATE TABLE public.t (id bigint, name text, amount numeric(12,2), at timestamptz, doc jsonb, small integer)"
        )
        base = pa.schema(
            [
                ("id", pa.int64()),
                ("name", pa.string()),
                ("amount", pa.decimal128(12, 2)),
                ("at", pa.timestamp("us", tz="UTC")),
            ]
        )
        types = s.column_types("public", "t")
        assert s.loads_directly(base, types, "public", "t")
        assert not s.loads_directly(
            base.append(pa.field("doc", pa.string())), types, "public", "t"
        )  # jsonb: staged and cast
        assert not s.loads_directly(
            base.append(pa.field("small", pa.int64())), types, "public", "t"
        )  # narrower column
        assert not s.loads_directly(
            base.set(2, pa.field("amount", pa.decimal128(14, 2))), types, "public", "t"
        )
    finally:
        con.rollback()
        con.close()


def test_memory_figures_cover_what_the_sync_allocated():
    from sync_assets import memory

    start = memory.start()
    if start is None:
        pytest.skip("no /proc/self/clear_refs here")
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    del block
    assert memory.peak() - start >= 60


def test_materialization_reports_the_sync_memory(tmp_path):
    from sync_assets import memory

    if memory.start() is None:
        pytest.skip("no /proc/self/clear_refs here")
    project, _ = items_project(
        tmp_path, {"type": "parquet", "root": str(tmp_path / "bronze")}, rows=50, sync_type="full"
    )
    meta = project.materialize("items_sync")
    assert meta["sync/peak_rss_mb"] >= meta["sync/rss_growth_mb"] >= 0


@pytest.mark.parametrize(
    "obj",
    [
        {"sync_type": "full", "skip_unchanged": False},  # direct load
        {"sync_type": "merge", "merge_keys": ["id"]},
    ],  # staged and cast
    ids=["full", "merge"],
)
def test_too_long_text_for_a_varchar_column_fails_instead_of_truncating(tmp_path, pg_uri, obj):
    project, src = items_project(tmp_path, {"type": "postgres", "dsn": pg_uri}, rows=20, **obj)
    project.materialize("items_sync")
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("ALTER TABLE sales.items ALTER name TYPE varchar(12)")
    duck(src, "UPDATE items SET name = 'item 3' || repeat(' ', 20) || 'more' WHERE id = 3")
    # found before the server's own "value too long", naming the column and the row
    with pytest.raises(
        Exception,
        match=r"object_id 'items_sync'.*column 'name' holds a text of length 30 .*\(the row with "
        r"id = 3\), which the PostgreSQL column's character varying\(12\) cannot hold",
    ):
        project.materialize("items_sync")
    with psycopg.connect(pg_uri) as con:  # the table is as it was
        assert con.execute(
            "SELECT count(*), min(name) FILTER (WHERE id = 3) FROM sales.items"
        ).fetchone() == (20, "item 3")


@pytest.mark.parametrize(
    "configured, expected", [({}, "122.0 MiB"), ({"memory_limit": "1GB"}, "953.6 MiB")]
)
def test_duckdb_target_writes_under_its_connection_memory_limit(tmp_path, configured, expected):
    # DuckDB keeps written blocks in memory up to its cap: the cap is what bounds a bulk load
    from sync_assets.config.models import DuckDBConnection
    from sync_assets.targets.duckdb import DuckDBTarget

    conn = DuckDBConnection(type="duckdb", path=str(tmp_path / "w.duckdb"), **configured)
    with DuckDBTarget(conn, str(tmp_path), "o", "main", "t").session() as s:
        assert s.scalar("SELECT current_setting('memory_limit')") == expected
