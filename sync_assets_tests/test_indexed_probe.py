"""An incremental run over a PostgreSQL source whose sync column is indexed reads no more of
the source than its change: probe and read both go through the index (no sequential scan)."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from sync_assets.sources import postgres_pool
from sync_assets_tests.harness import Project

ROWS = 50_000


def _source(pg_server, indexed: bool) -> str:
    uri = pg_server.create_database(f"probe_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute(
            "CREATE TABLE items AS SELECT i::bigint AS id, 'item ' || i AS name, TIMESTAMP "
            f"'2025-03-01' + i * INTERVAL '1 second' AS updated_at FROM generate_series(1, {ROWS}) i"
        )
        con.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
        if indexed:
            con.execute("CREATE INDEX items_updated_at ON items (updated_at)")
        con.execute("UPDATE items SET updated_at = NULL WHERE id IN (7, 8)")
        con.execute("VACUUM ANALYZE items")
    return uri


def _seq_scans(uri: str) -> int:
    """Sequential scans of items so far: the run's sessions are closed first, since a
    session reports its counts when idle for a while or when it ends (pooled ones idle)."""
    postgres_pool.close_all()
    time.sleep(0.3)
    with psycopg.connect(uri, autocommit=True) as con:
        return con.execute(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'items'"
        ).fetchone()[0]


@pytest.mark.parametrize("indexed", [True, False])
def test_incremental_probe_and_read_follow_the_index(tmp_path, pg_server, indexed):
    uri = _source(pg_server, indexed)
    spec = {
        "object_id": "items_sync",
        "source": {"connection": "pg", "schema": "public", "object": "items"},
        "target": {"connection": "tgt", "schema": "sales", "object": "items"},
        "sync_type": "incremental",
        "sync_column": "updated_at",
        "merge_keys": ["id"],
    }
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project = Project(tmp_path, {"pg": {"type": "postgres", "dsn": uri}, "tgt": target}, [spec])
    project.materialize("items_sync")
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute("UPDATE items SET name = 'changed', updated_at = now() WHERE id > 49990")
    before = _seq_scans(uri)
    meta = project.materialize("items_sync")
    scans = _seq_scans(uri) - before
    # the 10 changed rows and the 2 whose sync column is NULL (re-read every run)
    assert meta["sync/rows_read"] == 12 and meta["sync/rows_updated"] == 10
    assert meta["sync/null_sync_column_rows"] == 2
    if indexed:
        assert scans == 0, "the probe or the read scanned the table"
    else:
        assert scans >= 2  # one scan to probe, one to read: the counter sees them
    table = project.target_table("items_sync")
    assert table.num_rows == ROWS
    changed = [r for r in table.select(["id", "name"]).to_pylist() if r["name"] == "changed"]
    assert sorted(r["id"] for r in changed) == list(range(49991, ROWS + 1))
