"""No secret in logs, metadata, errors or written tables (issue: trust): successful and
failing syncs whose connections carry a password (as a field and inside a libpq URI), with
every event of the Dagster instance and the target's own tables grepped for it."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from sync_assets_tests.data import items_project
from sync_assets_tests.harness import duck

SECRET = "Sup3r-Secret-pw"


def _events_text(instance: dg.DagsterInstance) -> str:
    texts = []
    for run in instance.get_runs():
        texts += [str(entry) for entry in instance.all_logs(run.run_id)]
    return "\n".join(texts)


def _tables_text(uri: str) -> str:
    with psycopg.connect(uri, autocommit=True) as con:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return "\n".join(
            str(con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall())
            for schema, table in rows
        )


@pytest.mark.parametrize("form", ["fields", "uri"])
def test_no_password_in_events_errors_or_tables(tmp_path, pg_server, form):
    uri = pg_server.create_database(f"secrets_{form}")
    host, port, database = "127.0.0.1", pg_server.port, uri.rsplit("/", 1)[1]
    if form == "fields":
        conn = {"type": "postgres", "host": host, "port": port, "database": database,
                "user": "postgres", "password": SECRET}  # fmt: skip
    else:
        conn = {
            "type": "postgres",
            "dsn": f"postgresql://postgres:{SECRET}@{host}:{port}/{database}",
        }
    project, src = items_project(tmp_path, conn, sync_type="merge", merge_keys=["id"])
    project.materialize("items_sync")  # trust authentication: the password is sent, not checked
    duck(src, "UPDATE items SET name = 'changed' WHERE id = 1")
    project.materialize("items_sync")

    # the same password on a server that is not there: the driver's error must not carry it
    broken = dict(conn)
    if form == "fields":
        broken["port"] = 1
    else:
        broken["dsn"] = conn["dsn"].replace(f":{port}/", ":1/")
    project.write({"src": project.connections["src"], "tgt": broken}, project.objects)
    with pytest.raises(Exception) as failure:
        project.materialize("items_sync")
    assert "items_sync" in str(failure.value)
    for where, text in [
        ("the error", str(failure.value)),
        ("the instance's events", _events_text(project.instance)),
        ("the target's tables", _tables_text(uri)),
    ]:
        assert SECRET not in text, f"the password is in {where}"
    assert "rows_inserted" in _events_text(project.instance)  # the events were read
