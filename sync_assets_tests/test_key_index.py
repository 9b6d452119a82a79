"""The index on the merge keys (issue: performance round two): merge targets on PostgreSQL
(natively and through ODBC) get a unique index on their keys, so a small batch is looked up
instead of joined to the whole table; an existing table gets it at its next merge, unless its
keys repeat (then the sync goes on, and its metadata says why there is none)."""

from __future__ import annotations

import psycopg
import pytest

from sync_assets.sql import statements as sql
from sync_assets.sql.flavors import DUCKDB, FABRIC_WAREHOUSE, POSTGRES, SQLSERVER, SYNAPSE
from sync_assets_tests.conftest import target_connection
from sync_assets_tests.data import insert_items, items_project, source_rows, update_items
from sync_assets_tests.harness import assert_same_rows


def _indexes(uri: str) -> dict:
    with psycopg.connect(uri) as con:
        rows = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'sales'"
        ).fetchall()
    return dict(rows)


def _uri(conn: dict) -> str:
    if "dsn" in conn:
        return conn["dsn"]
    return f"postgresql://{conn['user']}:{conn['password']}@{conn['server']}:{conn['port']}/{conn['database']}"


@pytest.mark.parametrize("kind", ["postgres", "odbc"])
def test_a_merge_target_gets_a_unique_index_on_its_keys(tmp_path, pg_server, kind):
    conn = target_connection(kind, tmp_path, pg_server)
    project, src = items_project(
        tmp_path, conn, sync_type="incremental", sync_column="updated_at", merge_keys=["id"]
    )
    first = project.materialize("items_sync")
    assert first["sync/key_index"] == "created items_sync_keys on ['id']"
    assert _indexes(_uri(conn)) == {
        "items_sync_keys": "CREATE UNIQUE INDEX items_sync_keys ON sales.items USING btree (id)"
    }
    insert_items(src, 1000, 10)
    update_items(src, "id % 10 = 0")
    later = project.materialize("items_sync")
    assert "sync/key_index" not in later  # there already
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def test_an_existing_table_gets_the_index_unless_its_keys_repeat(tmp_path, pg_server):
    conn = target_connection("postgres", tmp_path, pg_server)
    project, src = items_project(tmp_path, conn, sync_type="full")
    project.materialize("items_sync")  # a full copy: no keys, no index
    assert _indexes(conn["dsn"]) == {}
    with psycopg.connect(conn["dsn"]) as con:  # a key twice, as a hand-made table may have
        con.execute("INSERT INTO sales.items SELECT * FROM sales.items WHERE id = 5")
    project.update_object("items_sync", sync_type="merge", merge_keys=["id"])
    kept = project.materialize("items_sync")
    assert kept["sync/key_index"] == "not created: ['id'] repeat in the table (e.g. (5,))"
    assert _indexes(conn["dsn"]) == {}
    with psycopg.connect(conn["dsn"]) as con:
        con.execute("DELETE FROM sales.items WHERE id = 5")
    update_items(src, "id = 5")
    fixed = project.materialize("items_sync")
    assert fixed["sync/key_index"] == "created items_sync_keys on ['id']"
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def test_only_engines_that_use_the_index_get_one():
    assert sql.key_index_sql("s", "t", ["a", "b"], POSTGRES) == (
        'CREATE UNIQUE INDEX IF NOT EXISTS "t_sync_keys" ON "s"."t" ("a", "b")'
    )
    assert sql.key_index_sql("s", "t", ["a"], SQLSERVER) == (
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N't_sync_keys' AND object_id = "
        "OBJECT_ID(N'[s].[t]')) CREATE NONCLUSTERED INDEX [t_sync_keys] ON [s].[t] ([a])"
    )
    for flavor in (DUCKDB, SYNAPSE, FABRIC_WAREHOUSE):
        assert sql.key_index_sql("s", "t", ["a"], flavor) is None
    long = sql.key_index_name("x" * 70)
    assert len(long) <= 63 and long.endswith("_sync_keys")
