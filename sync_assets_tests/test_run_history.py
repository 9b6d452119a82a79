"""Run history replicated to SQL (issue: syncs that run themselves; seed 003): Dagster's own
records of real sync runs (a first load, an incremental run, a failed run) replicated to a
real PostgreSQL database and to Delta; incremental by storage id and idempotent on rerun;
`mode: full` gives the same rows; the seed's two monitoring queries run on the tables; the
sensor replicates after runs and only warns when the history target is down; and
`sync-assets history status` prints each table's last replicated point."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from sync_assets.cli import main
from sync_assets.config.loader import load_project
from sync_assets.history import replicate
from sync_assets.history_defs import SENSOR
from sync_assets_tests.conftest import target_connection
from sync_assets_tests.data import insert_items, items_project

INCREMENTAL = {"sync_type": "incremental", "sync_column": "updated_at", "merge_keys": ["id"]}
BROKEN = {
    "object_id": "broken",
    "source": {"connection": "src", "schema": "main", "object": "items"},
    "target": {"connection": "tgt", "schema": "sales", "object": "broken"},
    "sync_type": "full",
    "filter_condition": "no_such_column > 0",
}
# seed 000's monitoring queries, on the replicated tables (PostgreSQL spelling)
RECENT_RUNS = """
SELECT object_id, run_id, started_at, ended_at, rows_read, rows_inserted, rows_updated,
       rows_deleted, status, error_message
FROM sync_history.object_runs
WHERE started_at >= now() - interval '7 days'
ORDER BY started_at DESC"""
PER_OBJECT = """
SELECT object_id,
       AVG(EXTRACT(EPOCH FROM ended_at - started_at)) AS avg_duration_seconds,
       AVG(rows_read + rows_inserted + rows_updated) AS avg_records_processed,
       COUNT(*) AS total_runs,
       SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed_runs
FROM sync_history.object_runs
GROUP BY object_id ORDER BY object_id"""


def _synced_project(tmp_path, history_conn: dict, instance=None, **history):
    """Three runs on the project's instance: first load, 10 new rows, a failing object."""
    project, src = items_project(
        tmp_path, {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}, **INCREMENTAL
    )
    project.write({**project.connections, "hist": history_conn}, [*project.objects, BROKEN])
    _add_history(project, history)
    project.instance = instance or project.instance
    project.materialize("items_sync")
    insert_items(src, 301, 10)
    project.materialize("items_sync")
    defs = project.definitions()
    broken = defs.get_assets_def(dg.AssetKey(["tgt", "sales", "broken"]))
    failed = dg.materialize(
        [broken], resources=dict(defs.resources), instance=project.instance, raise_on_error=False
    )
    assert not failed.success
    return project, src


def _add_history(project, history: dict) -> None:
    project.set_section("run_history", {"connection": "hist", **history})


def _rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("kind", "storage"),
    [("postgres", "in_memory"), ("postgres", "sqlite_files"), ("odbc", "in_memory")],
)
def test_history_in_sql_is_incremental_idempotent_and_queryable(tmp_path, pg_server, kind, storage):
    """On the PostgreSQL target and the ODBC target (psqlODBC, the T-SQL writer's stand-in),
    from an in-memory instance and from Dagster's default SQLite files (whose event log keeps
    a run's step events in a database of their own)."""
    hist = target_connection(kind, tmp_path, pg_server)
    # read back with psycopg (the ODBC target writes to the same server)
    dsn = hist["dsn"] if kind == "postgres" else pg_server.uri(hist["database"])
    instance = None
    if storage == "sqlite_files":
        (tmp_path / "home").mkdir()
        instance = dg.DagsterInstance.local_temp(str(tmp_path / "home"))
    project, src = _synced_project(tmp_path, hist, instance)
    config = load_project(project.configs)
    done = {d.table: d.rows for d in replicate(project.instance, config, str(project.root))}
    assert done == {"object_runs": 3, "runs": 3, "failures": 1}

    recent = _rows(dsn, RECENT_RUNS)
    by_status = sorted((r[0], r[8], r[4], r[5]) for r in recent)
    assert by_status == [
        ("broken", "FAILED", None, None),
        ("items_sync", "SUCCESS", 10, 10),
        ("items_sync", "SUCCESS", 300, 300),
    ]
    [failure] = [r for r in recent if r[8] == "FAILED"]
    assert "object_id 'broken'" in failure[9] and "no_such_column" in failure[9]
    assert "Traceback" not in failure[9]
    per_object = _rows(dsn, PER_OBJECT)
    assert [(r[0], r[3], r[4]) for r in per_object] == [("broken", 1, 1), ("items_sync", 2, 0)]
    runs = _rows(dsn, "SELECT status, trigger FROM sync_history.runs ORDER BY started_at")
    assert runs == [("SUCCESS", "manual"), ("SUCCESS", "manual"), ("FAILURE", "manual")]

    # a rerun repeats nothing; a new run adds exactly its rows
    again = {d.table: d.rows for d in replicate(project.instance, config, str(project.root))}
    assert again == {"object_runs": 0, "runs": 0, "failures": 0}
    insert_items(src, 311, 5)
    project.materialize("items_sync")
    more = {d.table: d.rows for d in replicate(project.instance, config, str(project.root))}
    assert more == {"object_runs": 1, "runs": 1, "failures": 0}
    count = "SELECT count(*) FROM sync_history.object_runs"
    assert _rows(dsn, count) == [(4,)]

    # full mode replaces the tables with the same rows
    full = {d.table: d.rows for d in replicate(project.instance, config, str(project.root), "full")}
    assert full == {"object_runs": 4, "runs": 4, "failures": 1}
    assert _rows(dsn, count) == [(4,)]


def test_history_to_delta_and_the_cli_status(tmp_path, capsys, monkeypatch):
    hist = target_connection("delta", tmp_path)
    project, _ = _synced_project(tmp_path, hist, tables=["object_runs", "runs"])
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(project.configs))
    config = load_project(project.configs)
    replicate(project.instance, config, str(project.root))
    from deltalake import DeltaTable

    table = DeltaTable(
        str(tmp_path / "lakehouse" / "sync_history" / "object_runs")
    ).to_pyarrow_table()
    assert sorted(table.column("status").to_pylist()) == ["FAILED", "SUCCESS", "SUCCESS"]

    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(lambda: project.instance))
    assert main(["history", "status"]) == 0
    out = capsys.readouterr().out
    assert "=== Run history replication ===" in out
    assert "sync_history.object_runs: up to event" in out and "3 rows" in out
    assert "failures" not in out  # not among the configured tables


def test_the_sensor_replicates_after_runs_and_only_warns_when_the_target_is_down(
    tmp_path, pg_server
):
    hist = target_connection("postgres", tmp_path, pg_server)
    project, _ = _synced_project(tmp_path, hist, enabled=True)
    defs = project.definitions()
    sensor = defs.get_sensor_def(SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    context = dg.build_sensor_context(instance=project.instance, definitions=defs)
    first = sensor.evaluate_tick(context)
    assert "replicated: object_runs +3, runs +3, failures +1" in first.skip_message
    second = sensor.evaluate_tick(
        dg.build_sensor_context(instance=project.instance, definitions=defs)
    )
    assert second.skip_message == "the history tables hold every event"

    project.write(
        {**project.connections, "hist": {"type": "postgres", "host": "127.0.0.1", "port": 9,
                                         "database": "d", "user": "u", "password": "Hist-S3cret"}},
        project.objects,
    )  # fmt: skip
    _add_history(project, {})
    defs = project.definitions()
    down = defs.get_sensor_def(SENSOR).evaluate_tick(
        dg.build_sensor_context(instance=project.instance, definitions=defs)
    )
    assert down.skip_message.startswith("replication failed, retried next tick")
    assert "Hist-S3cret" not in down.skip_message
    project.materialize("items_sync")  # and sync runs stay green (the harness asserts success)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({"connection": "nowhere"}, "field 'connection': unknown connection 'nowhere'"),
        ({"connection": "hist", "mode": "sometimes"}, "field 'mode'"),
        ({"connection": "hist", "tables": ["meta_runs"]}, "field 'tables.0'"),
    ],
)
def test_a_bad_run_history_section_is_one_clear_line(tmp_path, history, message):
    project, _ = items_project(tmp_path, {"type": "duckdb", "path": "t.duckdb"}, sync_type="full")
    project.write(
        {**project.connections, "hist": {"type": "duckdb", "path": "h.duckdb"}}, project.objects
    )
    project.set_section("run_history", history)
    from sync_assets.config.loader import ConfigError

    with pytest.raises(ConfigError) as info:
        load_project(project.configs)
    [line] = info.value.problems
    assert ": run_history: " in line and message in line


def test_the_sync_history_job_replicates_on_demand(tmp_path):
    hist = target_connection("duckdb", tmp_path / "h")
    (tmp_path / "h").mkdir()
    project, _ = _synced_project(tmp_path, hist)
    job = project.definitions().get_job_def("sync_history")
    config = {"ops": {"replicate_run_history": {"config": {"mode": "full"}}}}
    assert job.execute_in_process(instance=project.instance, run_config=config).success
    import duckdb

    with duckdb.connect(hist["path"], read_only=True) as con:
        statuses = con.sql("SELECT status FROM sync_history.object_runs ORDER BY 1").fetchall()
    assert statuses == [("FAILED",), ("SUCCESS",), ("SUCCESS",)]


def test_run_configs_of_the_history_job_are_checked_by_dagster(tmp_path):
    hist = target_connection("duckdb", tmp_path / "h")
    (tmp_path / "h").mkdir()
    project, _ = items_project(tmp_path, {"type": "duckdb", "path": "t.duckdb"}, sync_type="full")
    project.write({**project.connections, "hist": hist}, project.objects)
    _add_history(project, {})
    job = project.definitions().get_job_def("sync_history")
    ops = "replicate_run_history"
    assert dg.validate_run_config(job, {"ops": {ops: {"config": {"mode": "full"}}}})
    with pytest.raises(dg.DagsterInvalidConfigError, match="sometimes"):
        dg.validate_run_config(job, {"ops": {ops: {"config": {"mode": "sometimes"}}}})
