"""sync_type hash on every target: a scripted change sequence (inserts, updates, deletes, a
key that comes back, a change only in an excluded column, compound keys whose concatenations
collide), checked against the source after every step; the hash is the same in a DuckDB
source and in the sync process; hard and soft deletes; partition windows; dry run."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sync_assets import duck as sync_duck
from sync_assets.row_hash import hashed_columns, row_hash
from sync_assets.strategies import hash_diff
from sync_assets_tests.data import (
    create_items,
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows, duck, write_marker
from sync_assets_tests.test_dry_run import _dry
from sync_assets_tests.test_partitions import DAYS, partitioned_project

CARRIED = ["id", "name", "amount", "flag", "day", "day_str", "ts", "payload"]


def _counts(meta: dict) -> tuple[int, int, int]:
    return meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]


def _pg(uri: str, statements: str) -> None:
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute(statements)


def _live(table: pa.Table) -> pa.Table:
    if "_is_deleted" not in table.column_names:
        return table
    return table.filter(pc.invert(pc.fill_null(table["_is_deleted"], False)))


def test_hash_sync_writes_exactly_the_rows_that_changed(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="hash",
        merge_keys=["id"],
        exclude_columns=["updated_at"],
    )
    assert _counts(project.materialize("items_sync")) == (300, 0, 0)
    marker = write_marker(project, "items_sync")
    again = project.materialize("items_sync")
    assert again["sync/skipped"].startswith("no row changed") and _counts(again) == (0, 0, 0)
    assert again["sync/rows_unchanged"] == 300 and write_marker(project, "items_sync") == marker

    # updates, a change only in the excluded column, deletes, inserts
    update_items(src, "id <= 5")
    duck(src, "UPDATE items SET updated_at = TIMESTAMP '2030-01-01' WHERE id BETWEEN 6 AND 8")
    delete_items(src, "id BETWEEN 10 AND 12")
    insert_items(src, 301, 2)
    meta = project.materialize("items_sync")
    assert _counts(meta) == (2, 5, 3) and meta["sync/rows_unchanged"] == 299 - 7
    table = project.target_table("items_sync")
    assert "_sync_hash" in table.column_names
    assert_same_rows(source_rows(src).select(CARRIED), table, "id")
    # the excluded column's change alone did not rewrite the row
    stale = {r["id"]: r["updated_at"] for r in table.to_pylist() if 6 <= r["id"] <= 8}
    assert all(v is None or v.year < 2030 for v in stale.values())

    insert_items(src, 11, 1)  # a deleted key comes back
    assert _counts(project.materialize("items_sync")) == (1, 0, 0)
    assert_same_rows(source_rows(src).select(CARRIED), project.target_table("items_sync"), "id")
    assert project.materialize("items_sync")["sync/skipped"]


def test_compound_keys_are_compared_as_tuples(tmp_path, target_conn, target_kind):
    """('1', '12') and ('11', '2') concatenate alike; deleting one leaves the other."""
    src = tmp_path / "pairs.duckdb"
    duck(
        src,
        "CREATE TABLE pairs AS SELECT * FROM (VALUES ('1', '12', 10), ('11', '2', 20), "
        "('a', 'b', 30)) v(k1, k2, v)",
    )
    spec = {
        "object_id": "pairs_sync",
        "source": {"connection": "src", "schema": "main", "object": "pairs"},
        "target": {"connection": "tgt", "schema": "sales", "object": "pairs"},
        "sync_type": "hash",
        "merge_keys": ["k1", "k2"],
    }
    project = Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(src)}, "tgt": target_conn}, [spec]
    )
    assert _counts(project.materialize("pairs_sync")) == (3, 0, 0)
    duck(src, "DELETE FROM pairs WHERE k1 = '1'; UPDATE pairs SET v = 21 WHERE k1 = '11'")
    assert _counts(project.materialize("pairs_sync")) == (0, 1, 1)
    rows = {(r["k1"], r["k2"]): r["v"] for r in project.target_table("pairs_sync").to_pylist()}
    assert rows == {("11", "2"): 21, ("a", "b"): 30}


@pytest.mark.parametrize("target_kind", ["delta", "parquet", "duckdb", "postgres", "snowflake"])
def test_soft_deletes_mark_gone_keys_and_revive_returning_ones(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path, target_conn, sync_type="hash", merge_keys=["id"], soft_delete=True
    )
    project.materialize("items_sync")
    delete_items(src, "id IN (3, 4)")
    assert _counts(project.materialize("items_sync")) == (0, 0, 2)
    table = project.target_table("items_sync")
    marked = {r["id"]: bool(r["_is_deleted"]) for r in table.to_pylist()}
    assert len(marked) == 300 and marked[3] and marked[4] and not marked[5]
    assert project.materialize("items_sync")["sync/skipped"]  # marked rows are not marked again
    insert_items(src, 3, 1)
    assert _counts(project.materialize("items_sync")) == (0, 1, 0)
    live = _live(project.target_table("items_sync"))
    assert_same_rows(source_rows(src).select(CARRIED), live, "id")


@pytest.mark.parametrize("target_kind", ["delta", "duckdb", "postgres"])
def test_a_partition_run_compares_and_deletes_only_inside_its_window(
    tmp_path, target_conn, target_kind
):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="hash", merge_keys=["id"]
    )
    project.materialize("items_daily", partition_range=DAYS)
    delete_items(src, "id IN (3, 4)")  # 2025-03-04 and 2025-03-05
    update_items(src, "id IN (13, 14)")
    meta = project.materialize("items_daily", partition="2025-03-04")
    assert _counts(meta) == (0, 1, 1)
    ids = set(project.target_table("items_daily").column("id").to_pylist())
    assert 3 not in ids and 4 in ids


ACCOUNTS = (
    "CREATE TABLE public.accounts (id int, region text, owner text, balance numeric(12,2), "
    "active boolean, opened date, seen timestamptz, score double precision, "
    "PRIMARY KEY (id, region)); INSERT INTO public.accounts SELECT i, 'r' || (i % 3), "
    "'owner ' || i, i * 1.5, i % 2 = 0, DATE '2025-01-01' + i, "
    "TIMESTAMPTZ '2025-01-01 00:00:00.123456+00' + i * interval '1 hour', i / 7.0 "
    "FROM generate_series(1, 50) i"
)


def _accounts_project(tmp_path, target_conn, pg_uri, **obj):
    _pg(pg_uri, ACCOUNTS)
    spec = {
        "object_id": "accounts_sync",
        "source": {"connection": "src", "schema": "public", "object": "accounts"},
        "target": {"connection": "tgt", "schema": "sales", "object": "accounts"},
        "sync_type": "hash",
        "merge_keys": ["id", "region"],
        **obj,
    }
    src = {"type": "postgres", "dsn": pg_uri}
    return Project(tmp_path, {"src": src, "tgt": target_conn}, [spec])


CHANGES = (
    "UPDATE public.accounts SET balance = balance + 1 WHERE id <= 10; "
    "UPDATE public.accounts SET seen = seen + interval '1 day' WHERE id > 40; "
    "DELETE FROM public.accounts WHERE id = 50"
)


@pytest.mark.parametrize("algo", ["md5", "native"])
@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "delta"])
def test_a_postgres_source_hashes_in_postgres(tmp_path, target_conn, target_kind, pg_uri, algo):
    """PostgreSQL's own row hash is computed inside PostgreSQL, md5 of the canonical text in
    the sync process; either way the changed rows come back by a row-value key list."""
    project = _accounts_project(
        tmp_path,
        target_conn,
        pg_uri,
        hash_columns=["owner", "balance", "active", "opened"],
        hash_algo=algo,
    )
    meta = project.materialize("accounts_sync")
    where = "source" if algo == "native" else "sync process"  # md5 is faster here (see hash_diff)
    assert _counts(meta) == (50, 0, 0) and meta["sync/hash_computed_in"] == where
    assert meta["sync/hash_encoding"].startswith(algo)
    _pg(pg_uri, CHANGES)
    meta = project.materialize("accounts_sync")
    assert _counts(meta) == (0, 10, 1) and '("id", "region") IN (VALUES' in meta["sync/source_sql"]
    balances = {r["id"]: r["balance"] for r in project.target_table("accounts_sync").to_pylist()}
    assert len(balances) == 49 and float(balances[1]) == 2.5 and float(balances[11]) == 16.5


@pytest.mark.parametrize("target_kind", ["duckdb", "delta"])
def test_types_postgres_cannot_spell_are_hashed_in_the_sync_process(
    tmp_path, target_conn, target_kind, pg_uri, monkeypatch
):
    """A double precision column (PostgreSQL's float text differs from DuckDB's) makes the
    sync process hash the row; past the key-list limit the changed rows are picked by a
    semi-join here."""
    project = _accounts_project(tmp_path, target_conn, pg_uri, exclude_columns=["seen"])
    meta = project.materialize("accounts_sync")
    assert meta["sync/hash_computed_in"] == "sync process"
    monkeypatch.setattr(hash_diff, "LONG_KEY_LIST_LIMIT", 3)
    _pg(pg_uri, CHANGES)
    meta = project.materialize("accounts_sync")
    assert _counts(meta) == (0, 10, 1) and " IN (" not in meta["sync/source_sql"]
    assert project.materialize("accounts_sync")["sync/skipped"]


def test_postgres_and_duckdb_spell_the_same_hash(pg_uri):
    """The hash PostgreSQL computes equals the one DuckDB computes over the same rows read as
    Arrow, for every type PostgreSQL renders (one canonical encoding)."""
    from sync_assets.config.models import PostgresConnection, SourceSpec
    from sync_assets.row_hash import renders
    from sync_assets.sources.postgres import PostgresSource

    _pg(pg_uri, ACCOUNTS)
    _pg(pg_uri, "INSERT INTO public.accounts (id, region, owner) VALUES (99, 'x', 'a' || chr(31))")
    source = PostgresSource(PostgresConnection(type="postgres", dsn=pg_uri))
    spec = SourceSpec(connection="src", schema="public", object="accounts")
    cols = ["owner", "balance", "active", "opened", "seen"]
    with source.session(spec) as session:
        select = 'SELECT * FROM "public"."accounts"'
        schema = session.schema(select)
        assert renders(cols, schema, "postgres") and not renders(["score"], schema, "postgres")
        in_pg = session.fetch_small(
            f"SELECT id, {row_hash(cols, schema, 'postgres')} AS h FROM ({select}) q"
        ).to_pylist()
        table = session.stream(select, 1000).read_all()
    local = sync_duck.connect()
    local.register("t", table)
    over_arrow = local.sql(f"SELECT id, {row_hash(cols, table.schema)} AS h FROM t").fetchall()
    assert sorted((r["id"], r["h"]) for r in in_pg) == sorted(over_arrow)
    assert len(over_arrow) == 51


@pytest.mark.parametrize("target_kind", ["duckdb", "parquet"])
def test_native_hash_of_a_duckdb_source(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path, target_conn, sync_type="hash", merge_keys=["id"], hash_algo="native"
    )
    meta = project.materialize("items_sync")
    assert meta["sync/hash_encoding"].startswith("native") and _counts(meta) == (300, 0, 0)
    update_items(src, "id <= 3")
    delete_items(src, "id = 4")
    assert _counts(project.materialize("items_sync")) == (0, 3, 1)
    assert project.materialize("items_sync")["sync/skipped"]
    assert_same_rows(source_rows(src).select(CARRIED), project.target_table("items_sync"), "id")


def test_the_hash_is_the_same_in_a_duckdb_source_and_over_arrow(tmp_path):
    """One canonical encoding: the hash a DuckDB source computes in SQL equals the hash the
    sync process computes over the same rows read as Arrow."""
    path = tmp_path / "s.duckdb"
    create_items(path, 40)
    duck(path, "INSERT INTO items (id, name) VALUES (1000, 'a' || chr(31) || 'b')")
    con = sync_duck.connect(str(path))
    con.execute("SET TimeZone = 'America/New_York'")  # the encoding does not depend on it
    table = con.sql("SELECT * FROM items").to_arrow_table()
    cols = hashed_columns(table.schema, ["id"], None, [])
    in_source = con.sql(f"SELECT id, {row_hash(cols, table.schema)} AS h FROM items").fetchall()
    local = sync_duck.connect()
    local.register("t", table)
    over_arrow = local.sql(f"SELECT id, {row_hash(cols, table.schema)} AS h FROM t").fetchall()
    assert sorted(in_source) == sorted(over_arrow) and len(in_source) == 41


def test_null_and_duplicate_keys_fail_with_the_key_named(tmp_path):
    project, src = items_project(
        tmp_path,
        {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
        sync_type="hash",
        merge_keys=["id"],
    )
    duck(src, "INSERT INTO items (id, name) VALUES (7, 'twin')")
    with pytest.raises(Exception, match=r"not unique .*\(7,\) appears 2 times"):
        project.materialize("items_sync")
    duck(src, "DELETE FROM items WHERE name = 'twin'; INSERT INTO items (id) VALUES (NULL)")
    with pytest.raises(Exception, match="1 source rows of this run have a NULL key"):
        project.materialize("items_sync")


def test_values_that_concatenate_alike_hash_differently():
    local = sync_duck.connect()
    schema = pa.schema([("a", pa.string()), ("b", pa.string())])
    local.register("t", pa.table({"a": ["x\x1f", "x", None], "b": ["y", "\x1fy", "\\N"]}))
    hashes = [r[0] for r in local.sql(f"SELECT {row_hash(['a', 'b'], schema)} FROM t").fetchall()]
    assert len(set(hashes)) == 3


@pytest.mark.parametrize("target_kind", ["duckdb", "delta", "parquet"])
def test_dry_run_counts_a_hash_sync_and_writes_nothing(tmp_path, target_conn, target_kind):
    project, src = items_project(tmp_path, target_conn, sync_type="hash", merge_keys=["id"])
    project.materialize("items_sync")
    update_items(src, "id <= 4")
    delete_items(src, "id = 9")
    marker = write_marker(project, "items_sync")
    meta = _dry(project, "items_sync")
    assert meta["sync/dry_run"] and _counts(meta) == (0, 4, 1)
    assert write_marker(project, "items_sync") == marker
    assert _counts(project.materialize("items_sync")) == (0, 4, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"merge_keys": []}, "merge_keys"),
        ({"sync_column": "updated_at"}, "sync_column"),
        ({"hash_columns": ["name"], "exclude_columns": ["amount"]}, "exclude_columns"),
        ({"exclude_columns": ["id"]}, "merge keys"),
        ({"sync_type": "merge", "exclude_columns": ["name"]}, "only sync_type hash"),
        ({"column_mappings": {"id": "id", "name": "_sync_hash"}}, "hash_key"),
    ],
)
def test_hash_config_mistakes_name_the_field(tmp_path, changes, message):
    from sync_assets.config.loader import ConfigError, load_project

    spec = {
        "object_id": "h",
        "source": {"connection": "src", "object": "items"},
        "target": {"connection": "tgt", "object": "items"},
        "sync_type": "hash",
        "merge_keys": ["id"],
        **changes,
    }
    project = Project(
        tmp_path,
        {"src": {"type": "duckdb", "path": "s.duckdb"}, "tgt": {"type": "duckdb", "path": "t"}},
        [spec],
    )
    with pytest.raises(ConfigError, match=message):
        load_project(project.configs)
