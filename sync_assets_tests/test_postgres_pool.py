"""Reused PostgreSQL connections come back clean, and a dead one is never handed out."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from sync_assets.sources import postgres_pool as pool


@pytest.fixture
def uri(pg_server):
    pool.close_all()
    yield pg_server.create_database(f"pool_{uuid.uuid4().hex[:8]}")
    pool.close_all()


def _one(con, sql: str):
    with con.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()[0][0]


def test_a_reused_connection_has_no_temp_tables_locks_or_open_transaction(uri):
    with pool.pooled(uri) as con:
        first = _one(con, "SELECT pg_backend_pid()")
        with con.cursor() as cur:
            cur.execute("CREATE TEMP TABLE __sync_staged AS SELECT 1 AS a")
            cur.execute("SELECT pg_advisory_lock(42)")
        con.commit()
        with con.cursor() as cur:
            cur.execute("CREATE TABLE half (a int)")  # never committed
    with pool.pooled(uri) as con:
        assert _one(con, "SELECT pg_backend_pid()") == first  # the same server session
        assert _one(con, "SELECT to_regclass('pg_temp.__sync_staged')") is None
        assert _one(con, "SELECT to_regclass('half')") is None
        assert _one(con, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        # SET TRANSACTION must be the first statement of the session's transaction
        con.rollback()
        with con.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        assert _one(con, "SELECT current_setting('transaction_isolation')") == "repeatable read"


def test_a_connection_the_server_dropped_is_replaced(uri, pg_server):
    with pool.pooled(uri) as con:
        pid = _one(con, "SELECT pg_backend_pid()")
    with psycopg.connect(pg_server.uri(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pool.pooled(uri) as con:
        assert _one(con, "SELECT 1") == 1
        assert _one(con, "SELECT pg_backend_pid()") != pid


def test_idle_connections_are_capped_in_all(pg_server, monkeypatch):
    pool.close_all()
    monkeypatch.setattr(pool, "MAX_IDLE", 2)
    uris = [pg_server.create_database(f"cap_{uuid.uuid4().hex[:8]}") for _ in range(3)]
    held = [(u, pool.acquire(u)) for u in uris]
    for u, con in held:
        pool.release(u, con)
    try:
        idle = sum(len(stack) for stack in pool._idle.values())
        assert idle == 2
        assert uris[0] not in pool._idle  # the oldest went first
    finally:
        pool.close_all()


def test_idle_connections_are_closed_without_further_use(uri, pg_server, monkeypatch):
    """A process that stops using a server (a sensor in the daemon) does not keep its
    connections: the sweeper closes them once idle past IDLE_S."""
    monkeypatch.setattr(pool, "IDLE_S", 0.4)
    with pool.pooled(uri) as con:
        pid = _one(con, "SELECT pg_backend_pid()")
    deadline = time.monotonic() + 10
    with psycopg.connect(pg_server.uri(), autocommit=True) as admin:
        while time.monotonic() < deadline:
            alive = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            if alive.fetchone()[0] == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the idle connection was never closed")
    assert not pool._idle


def _schema(con, sql: str):
    with con.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table().schema


def test_a_type_created_after_the_type_table_was_loaded_is_decoded(uri):
    """Connections share the driver's type table; a type created later must not arrive as
    opaque bytes, on a new connection or on an idle one taken again."""
    held = pool.acquire(uri)  # a connection that stays open across the change
    with pool.pooled(uri) as con:  # this one goes idle, with the old table
        _one(con, "SELECT 1")
    database = pool._databases[uri][0]
    with psycopg.connect(uri, autocommit=True) as admin:
        admin.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        admin.execute("CREATE DOMAIN small AS int2")
        admin.execute("CREATE TYPE pair AS (a int, b text)")
        admin.execute("CREATE TABLE t (m mood, s small, p pair)")
        admin.execute("INSERT INTO t VALUES ('ok', 7, ROW(1, 'x'))")
    try:
        for _ in range(2):  # the idle connection, then a new one
            with pool.pooled(uri) as con:
                schema = _schema(con, "SELECT * FROM t")
                assert str(schema.field("m").type) == "string"
                assert str(schema.field("s").type) == "int16"
                assert str(schema.field("p").type) == "struct<a: int32, b: string>"
        assert pool._databases[uri][0] is not database  # the table was loaded again
        with psycopg.connect(uri, autocommit=True) as admin:
            admin.execute("ALTER TYPE pair ADD ATTRIBUTE c date")
        with pool.pooled(uri) as con:
            assert "c: date32" in str(_schema(con, "SELECT * FROM t").field("p").type)
    finally:
        pool.release(uri, held)  # the old table's last user: it closes with it


def test_staging_tables_keep_the_type_table(uri):
    """A write's temporary staging tables are not types the table needs: no reload."""
    with pool.pooled(uri) as con:
        with con.cursor() as cur:
            cur.execute("CREATE TEMP TABLE __sync_staged AS SELECT 1 AS a")
            cur.execute("CREATE TABLE kept (a int)")
        con.commit()
    database = pool._databases[uri][0]
    first = pool.acquire(uri)
    second = pool.acquire(uri)  # a new connection as well as the idle one
    try:
        assert pool._databases[uri][0] is database
    finally:
        pool.release(uri, first)
        pool.release(uri, second)
