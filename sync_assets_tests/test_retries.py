"""Retries (issue: automation): `retries:` becomes the asset's RetryPolicy; an error that
may pass (a writer lock held elsewhere, a lost connection) is retried, one that cannot
(config, permission, type, constraint) fails at once without waiting out the retries. The
errors classified are raised by the real engines (DuckDB, the test PostgreSQL server)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from sync_assets.locks import file_lock
from sync_assets.retries import is_permanent
from sync_assets_tests.data import items_project


def _restarts(project) -> int:
    records = project.instance.get_records_for_run(
        project.instance.get_runs(limit=1)[0].run_id, of_type=dg.DagsterEventType.STEP_RESTARTED
    ).records
    return len(records)


def test_a_held_writer_lock_is_retried_until_free(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_ASSETS_LOCK_WAIT_S", "0.3")
    conn = {"type": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    project, _ = items_project(
        tmp_path, conn, sync_type="full", retries={"max": 5, "delay_s": 0.5, "backoff": "linear"}
    )
    held = file_lock(Path(f"{conn['path']}.sync-lock"), "another run")
    held.__enter__()  # another process's run, as far as the lock can tell
    threading.Timer(2.0, held.__exit__, (None, None, None)).start()
    assert project.materialize("items_sync")["sync/rows_inserted"] == 300
    assert _restarts(project) >= 1


def test_an_error_no_retry_can_mend_fails_at_once(tmp_path):
    conn = {"type": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    project, _ = items_project(
        tmp_path, conn, sync_type="full", filter_condition="no_such_column > 0",
        retries={"max": 3, "delay_s": 30},
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(dg.Failure, match="object_id 'items_sync': reading the source failed"):
        project.materialize("items_sync")
    assert time.monotonic() - started < 30  # no 30 s wait before a retry
    assert _restarts(project) == 0


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the engine's own error is what is classified
        return exc
    raise AssertionError("no error raised")


def test_engine_errors_are_classified(pg_server):
    import psycopg

    con = duckdb.connect()
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    con.execute("INSERT INTO t VALUES (1, 'a')")
    permanent = {
        "duckdb constraint": _raised(lambda: con.execute("INSERT INTO t VALUES (1, 'b')")),
        "duckdb conversion": _raised(lambda: con.execute("SELECT 'x'::INTEGER")),
        "duckdb missing table": _raised(lambda: con.execute("SELECT * FROM nowhere")),
    }
    dsn = pg_server.create_database("retries")
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        pg.execute("INSERT INTO t VALUES (1)")
        pg.execute("CREATE ROLE nobody_here NOLOGIN")
        permanent["pg unique"] = _raised(lambda: pg.execute("INSERT INTO t VALUES (1)"))
        permanent["pg out of range"] = _raised(lambda: pg.execute("SELECT 2147483648::INTEGER"))
        pg.execute("SET ROLE nobody_here")
        permanent["pg permission"] = _raised(lambda: pg.execute("SELECT * FROM t"))
    pg_server.halt()
    try:
        lost = _raised(lambda: psycopg.connect(dsn, connect_timeout=2))
    finally:
        pg_server.resume()
    for name, error in permanent.items():
        assert is_permanent(error), f"{name}: {type(error).__name__} {error}"
    assert not is_permanent(lost), f"{type(lost).__name__} {lost} (server down)"
    assert not is_permanent(RuntimeError("wrapper")), "an unknown error is retried"
