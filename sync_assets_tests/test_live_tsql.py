"""Live suite: the T-SQL family against a real endpoint (deselected by default: marker `live`).

Set SYNC_ASSETS_LIVE_TSQL to an ODBC connection string of a database you may create schemas
and tables in, and SYNC_ASSETS_LIVE_TSQL_FLAVOR to sqlserver (default; also Azure SQL),
synapse or fabric_warehouse. Then:

    SYNC_ASSETS_LIVE_TSQL='DRIVER={ODBC Driver 18 for SQL Server};SERVER=localhost,1433;DATABASE=synctest;UID=sa;PWD=...;TrustServerCertificate=yes' \\
        .venv/bin/python -m pytest -m live sync_assets_tests/test_live_tsql.py

Each test works in a schema of its own (sa_<random>) and drops it afterwards. The Change
Tracking tests (sqlserver only) turn on Change Tracking and snapshot isolation for the
database when they are off, so the login needs ALTER DATABASE there. The flavor `postgres`
runs the same suite through psqlODBC (that is how the suite itself is checked on machines
without SQL Server).
"""

from __future__ import annotations

import os
import uuid

import pytest

from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows

LIVE = os.environ.get("SYNC_ASSETS_LIVE_TSQL")
FLAVOR = os.environ.get("SYNC_ASSETS_LIVE_TSQL_FLAVOR", "sqlserver")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE, reason="set SYNC_ASSETS_LIVE_TSQL to run the live T-SQL suite"),
]


def live_connection() -> dict:
    return {"type": "tsql", "flavor": FLAVOR, "odbc_connect": LIVE}


def _run(*statements: str) -> None:
    from sync_assets.config.models import TsqlConnection
    from sync_assets.tsql import odbc

    con = odbc.connect(TsqlConnection(**live_connection()), autocommit=True)
    try:
        for statement in statements:
            con.cursor().execute(statement)
    finally:
        con.close()


@pytest.fixture
def schema():
    name = f"sa_{uuid.uuid4().hex[:10]}"
    yield name
    if FLAVOR == "postgres":
        _run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        return
    _run(  # drop the schema's tables, then the schema
        "DECLARE @sql NVARCHAR(MAX) = N''; "
        f"SELECT @sql += N'DROP TABLE [{name}].' + QUOTENAME(name) + N'; ' FROM sys.tables WHERE schema_id = SCHEMA_ID(N'{name}'); "
        f"EXEC(@sql); IF SCHEMA_ID(N'{name}') IS NOT NULL EXEC(N'DROP SCHEMA [{name}]')"
    )


def _project(tmp_path, schema, **obj):
    return items_project(
        tmp_path,
        live_connection(),
        target={"connection": "tgt", "schema": schema, "object": "items"},
        **obj,
    )


@pytest.mark.parametrize(
    "sync_type, extra",
    [
        ("full", {}),
        ("incremental", {"sync_column": "updated_at"}),
        ("merge", {"merge_keys": ["id"]}),
        ("merge", {"merge_keys": ["id"], "sync_column": "updated_at"}),
        ("append_only", {"sync_column": "updated_at"}),
    ],
)
def test_sync_types_end_to_end(tmp_path, schema, sync_type, extra):
    project, src = _project(tmp_path, schema, sync_type=sync_type, **extra)
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    insert_items(src, 1000, 25)
    if sync_type == "full" or "merge_keys" in extra and sync_type != "append_only":
        update_items(src, "id % 10 = 0")  # appends without keys would (rightly) add a second copy
    if sync_type in ("full", "merge") and "sync_column" not in extra:
        delete_items(src, "id % 7 = 0")
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    again = project.materialize("items_sync")
    assert again["sync/rows_inserted"] == again["sync/rows_updated"] == 0


def test_partition_replace_leaves_other_partitions(tmp_path, schema):
    partition = {
        "column": "day",
        "granularity": "daily",
        "start": "2025-03-01",
        "end": "2025-03-11",
    }
    project, src = _project(tmp_path, schema, sync_type="full", partition=partition)
    project.materialize("items_sync", partition_range=("2025-03-01", "2025-03-10"))
    update_items(src, "day = DATE '2025-03-04'")
    project.materialize("items_sync", partition="2025-03-04")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def test_tsql_source(tmp_path, schema):
    project, src = _project(tmp_path, schema, sync_type="full")
    project.materialize("items_sync")
    spec = {
        "object_id": "back",
        "source": {"connection": "tgt", "schema": schema, "object": "items"},
        "target": {"connection": "wh", "object": "items"},
        "sync_type": "incremental",
        "sync_column": "updated_at",
        "merge_keys": ["id"],
        "batch_size": 64,
    }
    back = Project(
        tmp_path / "back",
        {"tgt": live_connection(), "wh": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}},
        [spec],
    )
    back.materialize("back")
    assert back.target_table("back").num_rows == source_rows(src).num_rows


@pytest.mark.skipif(
    FLAVOR not in ("sqlserver", "azure_sql"),
    reason="Change Tracking is a SQL Server / Azure SQL feature",
)
@pytest.mark.parametrize("soft_delete", [False, True])
def test_change_tracking_end_to_end(tmp_path, schema, soft_delete):
    table = f"[{schema}].[orders]"
    _run(
        "IF NOT EXISTS (SELECT 1 FROM sys.change_tracking_databases WHERE database_id = DB_ID()) "
        "EXEC(N'ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)')",
        "IF (SELECT snapshot_isolation_state FROM sys.databases WHERE database_id = DB_ID()) = 0 "
        "EXEC(N'ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON')",
        f"EXEC(N'CREATE SCHEMA [{schema}]')",
        f"CREATE TABLE {table} (id INT NOT NULL PRIMARY KEY, note NVARCHAR(100), amount DECIMAL(12,2))",
        f"ALTER TABLE {table} ENABLE CHANGE_TRACKING",
        f"INSERT INTO {table} SELECT value, CONCAT(N'n', value), value * 1.5 FROM GENERATE_SERIES(1, 500)",
    )
    spec = {
        "object_id": "ct",
        "source": {"connection": "mssql", "schema": schema, "object": "orders"},
        "target": {"connection": "wh", "object": "orders"},
        "sync_type": "change_tracking",
        "merge_keys": ["id"],
        "soft_delete": soft_delete,
    }
    project = Project(
        tmp_path,
        {"mssql": live_connection(), "wh": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}},
        [spec],
    )
    first = project.materialize("ct")
    assert (
        first["sync/rows_inserted"] == 500
        and "first sync" in first["sync/change_tracking_decision"]
    )
    _run(
        f"UPDATE {table} SET note = N'changed' WHERE id <= 10",
        f"DELETE FROM {table} WHERE id BETWEEN 491 AND 500",
        f"INSERT INTO {table} VALUES (1000, N'new', 1)",
    )
    second = project.materialize("ct")
    assert (
        second["sync/rows_inserted"],
        second["sync/rows_updated"],
        second["sync/rows_deleted"],
    ) == (1, 10, 10)
    rows = {r["id"]: r for r in project.target_table("ct").to_pylist()}
    assert rows[1]["note"] == "changed" and 1000 in rows
    if soft_delete:
        assert rows[495]["_is_deleted"] is True and rows[1]["_is_deleted"] is False
    else:
        assert 495 not in rows and len(rows) == 491
    assert "no changes" in project.materialize("ct")["sync/skipped"]


def test_live_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, schema):
    """Two runs from two instances: sp_getapplock (sqlserver / Azure SQL) or the advisory lock
    (postgres) refuses the second while the first is paused after planning; Synapse and Fabric
    Warehouse have no application lock (their transaction decides), so both run there."""
    from sync_assets_tests.harness import start_sync, wait_for_file

    project, src = _project(tmp_path, schema, sync_type="incremental", sync_column="updated_at")
    mark = tmp_path / "paused"
    first = start_sync(
        project, tmp_path, SYNC_ASSETS_PAUSE_AT="planned:8", SYNC_ASSETS_PAUSE_MARK=str(mark)
    )
    wait_for_file(mark, 120)
    second = start_sync(project, tmp_path, SYNC_ASSETS_LOCK_WAIT_S="0.5")
    out, _ = second.communicate(timeout=300)
    assert first.wait(timeout=300) == 0, first.stdout.read()[-3000:]
    if FLAVOR in ("synapse", "fabric_warehouse"):
        return
    assert second.returncode != 0 and "another sync of items_sync holds the lock" in out
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
