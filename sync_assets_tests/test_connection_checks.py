"""`sync-assets test-connection` and the `test_connections` job."""

from __future__ import annotations

import dagster as dg

from sync_assets.cli import main
from sync_assets.config.loader import load_project
from sync_assets.connection_checks import check_connections, tsql_permission_queries
from sync_assets_tests.conftest import odbc_connection
from sync_assets_tests.harness import Project


def _project(tmp_path, connections, objects=()):
    return Project(tmp_path, connections, list(objects))


def test_reachable_and_unreachable_connections(tmp_path, pg_uri, capsys, monkeypatch):
    bad = dict(odbc_connection(pg_uri), port=1, password="hunter2-secret")
    project = _project(
        tmp_path,
        {
            "odbc_pg": odbc_connection(pg_uri),
            "down": bad,
            "wh": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
        },
    )
    results = {
        (c.connection, c.what): c
        for c in check_connections(load_project(project.configs), tmp_path)
    }
    assert (
        results[("odbc_pg", "connect")].ok
        and "PostgreSQL" in results[("odbc_pg", "connect")].detail
    )
    down = results[("down", "connect")]
    assert (
        not down.ok
        and "ODBC connection failed" in down.detail
        and "hunter2-secret" not in down.detail
    )
    assert results[("wh", f"can be created: {tmp_path / 'w.duckdb'}")].ok

    monkeypatch.setenv(
        "SYNC_ASSETS_CONFIGS", str(project.configs)
    )  # main() sets it; restored after
    assert main(["test-connection", "odbc_pg", "wh"]) == 0
    assert main(["test-connection"]) == 1
    out = capsys.readouterr().out
    assert "FAIL down: connect" in out and "hunter2-secret" not in out


def test_connections_job_fails_when_a_check_fails(tmp_path, pg_uri):
    bad = dict(odbc_connection(pg_uri), port=1)
    project = _project(tmp_path, {"ok": odbc_connection(pg_uri), "down": bad})
    job = project.definitions().get_job_def("test_connections")
    result = job.execute_in_process(raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
    assert not result.success
    assert "1 connection check(s) failed" in str(
        result.failure_data_for_node("check_connections").error
    )


def test_tsql_permission_queries_follow_the_objects(tmp_path):
    objects = [
        {
            "object_id": "ct_orders",
            "source": {"connection": "mssql", "schema": "sales", "object": "orders"},
            "target": {"connection": "wh", "object": "orders"},
            "sync_type": "change_tracking",
            "merge_keys": ["id"],
        }
    ]
    mssql = {"type": "tsql", "server": "db", "database": "d", "user": "u", "password": "p"}
    project = _project(tmp_path, {"mssql": mssql, "wh": dict(mssql, flavor="synapse")}, objects)
    loaded = load_project(project.configs)
    assert tsql_permission_queries(loaded, "mssql") == [
        (
            "SELECT on [sales].[orders]",
            "SELECT HAS_PERMS_BY_NAME(N'[sales].[orders]', N'OBJECT', N'SELECT')",
        ),
        (
            "VIEW CHANGE TRACKING on [sales].[orders]",
            "SELECT HAS_PERMS_BY_NAME(N'[sales].[orders]', N'OBJECT', N'VIEW CHANGE TRACKING')",
        ),
        (
            "Change Tracking enabled on [sales].[orders]",
            "SELECT CASE WHEN CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'[sales].[orders]')) IS NULL THEN 0 ELSE 1 END",
        ),
    ]
    assert tsql_permission_queries(loaded, "wh") == [
        (
            "CREATE TABLE in the database",
            "SELECT HAS_PERMS_BY_NAME(NULL, N'DATABASE', N'CREATE TABLE')",
        )
    ]
