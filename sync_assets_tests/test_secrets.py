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


def _failing_run(project, broken: dict) -> str:
    """The error of a run whose target connection is `broken` (it must fail, naming the
    object)."""
    project.write({"src": project.connections["src"], "tgt": broken}, project.objects)
    with pytest.raises(Exception) as failure:
        project.materialize("items_sync")
    assert "items_sync" in str(failure.value)
    return str(failure.value)


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
    error = _failing_run(project, broken)
    for where, text in [
        ("the error", error),
        ("the instance's events", _events_text(project.instance)),
        ("the target's tables", _tables_text(uri)),
    ]:
        assert SECRET not in text, f"the password is in {where}"
    assert "rows_inserted" in _events_text(project.instance)  # the events were read


def _ui_text(project) -> str:
    """What the webserver shows of the code location: the repository snapshot it loads (asset
    specs and their metadata, resources, jobs, schedules), serialized."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    repository = project.definitions().get_repository_def()
    return serialize_value(RepositorySnap.from_def(repository))


def _odbc_connect(pg_server, database: str, password: str) -> dict:
    """A tsql connection (flavor postgres) given as a raw ODBC connection string, the
    password braced because it holds a `;`."""
    return {
        "type": "tsql",
        "flavor": "postgres",
        "odbc_connect": f"DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT={pg_server.port};"
        f"DATABASE={database};UID=postgres;PWD={{{password}}}",
    }


def _sas(container: str) -> str:
    import datetime as dt

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from sync_assets_tests.azurite import DEV_KEY

    every = ContainerSasPermissions(
        read=True, write=True, delete=True, list=True, add=True, create=True
    )
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return generate_container_sas("onelake", container, DEV_KEY, permission=every, expiry=expiry)


def _sas_signature(token: str) -> list[str]:
    """The `sig=` value of a SAS token, raw and URL-decoded."""
    from urllib.parse import parse_qs, quote

    sig = parse_qs(token).get("sig", [])
    return sig + [quote(s, safe="") for s in sig]


# (connection kind, the secret, how a failing run of it is made)
KINDS = ["tsql_fields", "tsql_odbc_connect", "snowflake", "onelake_account_key", "onelake_sas"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_of_any_connection_type(tmp_path, kind, request):
    """Each connection type with its secret: a successful and a failing run, then the error,
    the instance's events, what the UI loads and the target's tables hold no trace of it."""
    from sync_assets_tests.azurite import DEV_KEY
    from sync_assets_tests.conftest import odbc_connection, onelake_connection, snowflake_connection

    secret, tables = "Sup3r;Secret-pw", lambda: ""
    if kind.startswith("tsql"):
        pg_server = request.getfixturevalue("pg_server")
        uri = pg_server.create_database(f"secrets_{kind}")
        if kind == "tsql_fields":
            conn = dict(odbc_connection(uri), password=secret)
            broken = dict(conn, port=1)
        else:
            conn = _odbc_connect(pg_server, uri.rsplit("/", 1)[1], secret)
            broken = {
                **conn,
                "odbc_connect": conn["odbc_connect"].replace(f"={pg_server.port};", "=1;"),
            }
        tables = lambda: _tables_text(uri)  # noqa: E731
    elif kind == "snowflake":
        server = request.getfixturevalue("fakesnow_server")
        conn = dict(snowflake_connection(server), password=secret)
        args = dict(conn["additional_snowflake_connection_args"], port=1)
        broken = dict(conn, additional_snowflake_connection_args=args)
    elif kind == "onelake_account_key":  # the emulator's key, given as a user gives theirs
        secret = DEV_KEY
        azurite = request.getfixturevalue("azurite")
        conn = onelake_connection(azurite, storage_options={"azure_storage_account_key": secret})
        broken = dict(conn, workspace="no-such-workspace")
    else:  # a container SAS token (its signature is the secret part)
        azurite = request.getfixturevalue("azurite")
        conn = onelake_connection(azurite)
        secret = _sas(conn["workspace"])
        conn["storage_options"] = {"azure_storage_sas_token": secret}
        broken = dict(conn, workspace="no-such-workspace")
    project, _ = items_project(tmp_path, conn, sync_type="merge", merge_keys=["id"])
    project.materialize("items_sync")
    ui_ok = _ui_text(project)
    error = _failing_run(project, broken)
    for where, text in [
        ("the error", error),
        ("the instance's events", _events_text(project.instance)),
        ("what the UI loads", ui_ok + _ui_text(project)),
        ("the target's tables", tables()),
    ]:
        for part in {secret, *secret.split(";"), *_sas_signature(secret)}:
            assert part not in text, f"the secret (or its part {part!r}) is in {where}"
    assert "rows_inserted" in _events_text(project.instance)  # the events were read


def test_connections_take_dagster_env_vars(tmp_path, pg_server, monkeypatch):
    """Dagster's EnvVar convention on connection fields: `{env: VAR}` and `"{{ env.VAR }}"`.
    The UI's snapshot names the variables (never their values), and each run reads them when
    it starts: a database switched in the environment after loading is where the run writes."""
    from sync_assets.config.loader import ConfigError, load_project

    first = pg_server.create_database("env_first").rsplit("/", 1)[1]
    second = pg_server.create_database("env_second")
    monkeypatch.setenv("TGT_PASSWORD", SECRET)
    monkeypatch.setenv("TGT_DATABASE", first)
    conn = {"type": "postgres", "host": "127.0.0.1", "port": pg_server.port, "user": "postgres",
            "database": {"env": "TGT_DATABASE"}, "password": "{{ env.TGT_PASSWORD }}"}  # fmt: skip
    project, _ = items_project(tmp_path, conn, sync_type="full")
    defs = project.definitions()
    snap_text = _ui_text(project)
    assert SECRET not in snap_text
    from dagster._core.remote_representation.external_data import RepositorySnap

    used = RepositorySnap.from_def(defs.get_repository_def()).utilized_env_vars
    assert {"TGT_DATABASE", "TGT_PASSWORD"} <= set(used)
    assert [c.name for c in used["TGT_PASSWORD"]] == ["sync_io_tgt"]

    monkeypatch.setenv("TGT_DATABASE", "env_second")  # after loading: the run reads it
    project.materialize("items_sync")
    with psycopg.connect(second) as con:
        assert con.execute("SELECT count(*) FROM sales.items").fetchone() == (300,)
    assert SECRET not in _events_text(project.instance)

    monkeypatch.delenv("TGT_PASSWORD")
    with pytest.raises(ConfigError) as missing:
        load_project(project.configs)
    line = str(missing.value)
    assert (
        "connection 'tgt': field 'password': environment variable TGT_PASSWORD is not set" in line
    )
