"""Connections lost mid-sync (issue: trust): the server a sync talks to goes away in the
middle of a run (PostgreSQL as source and as target, also through ODBC; Azurite under a
OneLake target; the fakesnow server under a Snowflake target) and comes back after the run
failed. The run fails with an error naming the object and the step, the target holds
exactly what it held before (nothing half-applied), and the next run makes it equal the
source.

Each sync runs in a child process paused at a named point (faults.PAUSE_ENV); the test
stops the server while it sleeps there, so the loss lands at that exact step. The default
suite runs one case per server and role; `-m faults` runs the other points too.
"""

from __future__ import annotations

import threading
import time

import pytest

from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows, start_sync, wait_for_file
from sync_assets_tests.pg_server import PostgresServer, free_port

PAUSE_S = 4  # the child sleeps this long at the point; the server is stopped meanwhile


@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test's own: stopping it must not break other tests."""
    server = PostgresServer().start()
    yield server
    server.stop()


def _lose_at(project: Project, tmp_path, point: str, lose) -> str:
    """Run items_sync in a child paused at `point`, call `lose()` while it is paused, and
    return the child's output; the run must fail."""
    mark = tmp_path / f"paused-{point}"
    child = start_sync(
        project,
        tmp_path,
        SYNC_ASSETS_PAUSE_AT=f"{point}:{PAUSE_S}",
        SYNC_ASSETS_PAUSE_MARK=str(mark),
        SYNC_ASSETS_LOCK_WAIT_S="5",
    )
    wait_for_file(mark, 120)
    lose()
    out, _ = child.communicate(timeout=300)
    assert child.returncode != 0, f"the run survived the lost connection:\n{out[-3000:]}"
    assert "Traceback" not in _sync_error(out), out[-3000:]
    print(_sync_error(out))  # the error a user reads, in the test log
    return _sync_error(out)


def _sync_error(out: str) -> str:
    """The SyncError line the run failed with (what the user reads in the run log)."""
    lines = [line for line in out.splitlines() if "SyncError: object_id" in line]
    assert lines, f"no SyncError in the output:\n{out[-3000:]}"
    return lines[-1]


def _change(src) -> None:
    """Inserts, updates and deletes: a rerun that half-applied them would show."""
    insert_items(src, 100_000, 150)
    update_items(src, "id % 7 = 0")
    delete_items(src, "id % 11 = 0")


def _merged_then_changed(tmp_path, target: dict, rows: int, **obj):
    """A merge object synced once into `target`, then its source changed: (project, source,
    the target as the first run left it)."""
    project, src = items_project(
        tmp_path, target, rows=rows, sync_type="merge", merge_keys=["id"], **obj
    )
    project.materialize("items_sync")
    before = project.target_table("items_sync")
    _change(src)
    return project, src, before


def _rerun_matches(project: Project, src) -> None:
    """The next run, with the server back, makes the target equal the source."""
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


# --- PostgreSQL as the source -----------------------------------------------------------

PG_ROWS = 300_000  # wider than the socket buffers and one driver batch: the read is mid-way


def _pg_source(server: PostgresServer) -> str:
    import psycopg

    uri = server.create_database("src")
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute(
            "CREATE TABLE items AS SELECT i::bigint AS id, repeat('x', 80) || i AS name, "
            "(i * 1.25)::numeric(12,2) AS amount, TIMESTAMP '2025-03-01' + i * INTERVAL "
            f"'1 second' AS updated_at FROM generate_series(1, {PG_ROWS}) i"
        )
    return uri


def _pg_rows(uri: str):
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(uri) as con, con.cursor() as cur:
        cur.execute("SELECT id, name, amount, updated_at FROM items")
        return cur.fetch_arrow_table()


def test_postgres_source_lost_mid_read(tmp_path, own_pg):
    import psycopg

    uri = _pg_source(own_pg)
    target = {"type": "duckdb", "path": str(tmp_path / "target.duckdb")}
    spec = {
        "object_id": "items_sync",
        "source": {"connection": "pg", "schema": "public", "object": "items"},
        "target": {"connection": "tgt", "schema": "sales", "object": "items"},
        "sync_type": "full",
    }
    project = Project(tmp_path, {"pg": {"type": "postgres", "dsn": uri}, "tgt": target}, [spec])
    project.materialize("items_sync")
    before = project.target_table("items_sync")
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute("UPDATE items SET name = 'changed' WHERE id % 5 = 0")
        con.execute("DELETE FROM items WHERE id % 9 = 0")

    error = _lose_at(project, tmp_path, "mid_stream", own_pg.halt)
    assert "object_id 'items_sync': reading the source failed" in error
    assert "is unchanged" in error
    own_pg.resume()
    assert_same_rows(before, project.target_table("items_sync"), "id")
    project.materialize("items_sync")
    assert_same_rows(_pg_rows(uri), project.target_table("items_sync"), "id")


# --- PostgreSQL as the target (its own driver and through ODBC) -------------------------


@pytest.mark.parametrize(
    "kind, point",
    [
        # while the rows are streamed into the staging table
        pytest.param("postgres", "mid_stream", marks=pytest.mark.faults),
        ("postgres", "staged"),  # staged, before the change is applied
        # applied inside the transaction, not committed
        pytest.param("postgres", "before_commit", marks=pytest.mark.faults),
        pytest.param("odbc", "staged", marks=pytest.mark.faults),
        ("odbc", "before_commit"),
    ],
)
def test_postgres_target_lost(tmp_path, own_pg, kind, point):
    from sync_assets_tests.conftest import odbc_connection

    uri = own_pg.create_database("tgt")
    target = {"type": "postgres", "dsn": uri} if kind == "postgres" else odbc_connection(uri)
    project, src, before = _merged_then_changed(tmp_path, target, rows=20_000, batch_size=2_000)

    error = _lose_at(project, tmp_path, point, own_pg.halt)
    assert "object_id 'items_sync': writing to" in error and "failed (merge)" in error, error
    own_pg.resume()
    assert_same_rows(before, project.target_table("items_sync"), "id")
    _rerun_matches(project, src)


# --- Azurite under a OneLake (Delta) target ---------------------------------------------


def test_onelake_storage_lost_mid_write(tmp_path, azurite):
    from sync_assets_tests.conftest import onelake_connection

    # object_store retries a lost endpoint for minutes by default (right for users); the
    # test keeps it short so the run fails while the emulator is down
    target = onelake_connection(
        azurite, storage_options={"max_retries": "1", "retry_timeout": "3s"}
    )
    project, src, before = _merged_then_changed(tmp_path, target, rows=20_000, batch_size=2_000)

    try:
        error = _lose_at(project, tmp_path, "mid_stream", azurite.halt)
    finally:
        azurite.start()  # the same port and folder: the blobs written before are served again
    assert "object_id 'items_sync': writing to abfss://" in error, error
    assert_same_rows(before, project.target_table("items_sync"), "id")
    _rerun_matches(project, src)


# --- the fakesnow server under a Snowflake target ----------------------------------------


class _Snow:
    """A fakesnow server of this test's own on a fixed port, stopped and started again. Its
    tables live in fakesnow's process-wide DuckDB, so they outlive the server. (Started as
    fakesnow.server() starts one; that function is shadowed by its own submodule once the
    session's server has imported it.)"""

    def __init__(self):
        self.port = free_port()
        self.server = self.thread = None

    def start(self) -> dict:
        import fakesnow.server
        import uvicorn

        config = uvicorn.Config(fakesnow.server.app, host="127.0.0.1", port=self.port)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while self.thread.is_alive() and not self.server.started:
            time.sleep(0.05)
        assert self.server.started, "the fakesnow server did not start"
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 1,
        }

    def halt(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(30)
            self.server = None


@pytest.mark.parametrize(
    "point", [pytest.param("staged", marks=pytest.mark.faults), "before_commit"]
)
def test_snowflake_lost(tmp_path, fakesnow_server, point):
    from sync_assets_tests.conftest import abort_dead_session, snowflake_connection

    snow = _Snow()
    target = snowflake_connection(snow.start())
    try:
        project, src, before = _merged_then_changed(tmp_path, target, rows=5_000)
        error = _lose_at(project, tmp_path, point, snow.halt)
        abort_dead_session()  # fakesnow stand-in step: see abort_dead_session
        snow.start()
        assert "object_id 'items_sync': writing to" in error, error
        assert_same_rows(before, project.target_table("items_sync"), "id")
        _rerun_matches(project, src)
    finally:
        snow.halt()
