"""Shared fixtures: a real PostgreSQL server per test session, target connections per kind."""

from __future__ import annotations

import itertools
import os
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest

from sync_assets_tests.azurite import Azurite, port_from_env
from sync_assets_tests.pg_server import PostgresServer

warnings.filterwarnings("ignore", category=dg.BetaWarning)
# unixODBC reads the project's driver list (Debian's own turns on a log file per process)
os.environ.setdefault("ODBCSYSINI", str(Path(__file__).resolve().parents[1] / "odbc"))
AZURITE_PORT = (
    port_from_env()
)  # before any Delta call: delta-rs reads the emulator URL from the environment

TARGET_KINDS = ["delta", "parquet", "duckdb", "postgres", "odbc", "onelake", "snowflake"]
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite():
    server = Azurite(AZURITE_PORT).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fakesnow_server():
    """The fakesnow HTTP server on loopback, reached through the real Snowflake connector."""
    import fakesnow
    import fakesnow.arrow
    import fakesnow.copy_into

    # fakesnow upper-cases the target table's column names before matching them to the
    # Parquet file's (Snowflake keeps quoted names exactly), so quoted lower-case and
    # non-ASCII names never match under CASE_SENSITIVE: give it the names as they are
    def exact_columns(table, duck_conn, database, schema):
        return [
            c[0] for c in fakesnow.copy_into._describe_table(table, duck_conn, database, schema)
        ]

    fakesnow.copy_into._get_table_columns = exact_columns
    fakesnow.arrow.timestamp_to_sf_struct = _timestamps_with_nulls(
        fakesnow.arrow.timestamp_to_sf_struct
    )
    with fakesnow.server() as kwargs:
        yield kwargs


def _timestamps_with_nulls(to_struct):
    """fakesnow sends timestamps as Snowflake's (epoch, fraction) structs without a validity
    mask, so a NULL timestamp read back as 1970-01-01: keep the NULLs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def convert(ts):
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        struct = to_struct(pc.fill_null(ts, pa.scalar(0, ts.type)))
        return pa.StructArray.from_arrays(
            struct.flatten(), fields=list(struct.type), mask=ts.is_null()
        )

    return convert


def abort_dead_session() -> None:
    """Roll back what a dead client (killed, or cut off from the server) left open.
    Snowflake aborts a dead session's open transaction (the session expires, or
    SYSTEM$ABORT_SESSION); fakesnow never does, so the dead client's transaction would
    conflict with the next client's statements or swallow them. Every fakesnow session has
    its own DuckDB cursor on one shared database: roll each back (the tests run one at a
    time per process, so no live session is inside a transaction now). Stand-in only: not
    product code."""
    import duckdb
    import fakesnow.server

    time.sleep(1.0)  # the server finishes a statement the client sent before it died
    cursors = [fakesnow.server.shared_fs.duck_conn]
    cursors += [conn._duck_conn for conn in fakesnow.server.sessions.values()]
    for cursor in cursors:
        try:
            cursor.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass  # not inside a transaction
        except duckdb.ConnectionException:
            pass  # a closed session


def snowflake_connection(server: dict, **extra) -> dict:
    """A snowflake connection to a fresh database on the fakesnow server. fakesnow fails MERGE
    inside an explicit transaction, so the tests apply with delete + insert (use_merge false);
    the MERGE text is checked in test_snowflake.py."""
    import snowflake.connector

    database = f"DB{next(_db_counter)}_{os.getpid()}"
    args = {
        k: server[k] for k in ("host", "port", "protocol", "session_parameters", "network_timeout")
    }
    con = snowflake.connector.connect(
        account="fakesnow", user="fake", password="fakesnow-test-password", **args
    )
    con.cursor().execute(f"CREATE DATABASE {database}")
    con.close()
    return {
        "type": "snowflake",
        "account": "fakesnow",
        "user": "fake",
        "password": "fakesnow-test-password",
        "database": database,
        "use_merge": False,
        "additional_snowflake_connection_args": args,
        **extra,
    }


def onelake_connection(azurite, **extra) -> dict:
    """A fabric_lakehouse connection to a fresh workspace (container) of the `onelake` account."""
    workspace = f"ws{next(_db_counter)}-{os.getpid()}"
    azurite.create_container("onelake", workspace)
    return {
        "type": "fabric_lakehouse",
        "workspace": workspace,
        "lakehouse": "sales_lh",
        "emulator": True,
        **extra,
    }


@pytest.fixture
def pg_uri(pg_server) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.create_database(f"t{next(_db_counter)}")


def target_connection(kind: str, tmp_path, pg_server=None, azurite=None, snow=None) -> dict:
    if kind == "delta":
        return {"type": "delta", "root": str(tmp_path / "lakehouse")}
    if kind == "parquet":
        return {"type": "parquet", "root": str(tmp_path / "bronze")}
    if kind == "duckdb":
        return {"type": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    if kind == "postgres":
        return {"type": "postgres", "dsn": pg_server.create_database(f"t{next(_db_counter)}")}
    if kind == "odbc":
        return odbc_connection(pg_server.create_database(f"t{next(_db_counter)}"))
    if kind == "onelake":
        return onelake_connection(azurite)
    if kind == "snowflake":
        return snowflake_connection(snow)
    raise ValueError(kind)


def odbc_connection(uri: str) -> dict:
    """A `tsql` connection of flavor postgres: the ODBC writer against the test server."""
    u = urlparse(uri)
    return {
        "type": "tsql",
        "flavor": "postgres",
        "server": u.hostname,
        "port": u.port,
        "database": u.path.lstrip("/"),
        "user": u.username,
        "password": u.password or "",
    }


@pytest.fixture(params=TARGET_KINDS)
def target_kind(request) -> str:
    return request.param


@pytest.fixture
def target_conn(target_kind, tmp_path, request) -> dict:
    server = request.getfixturevalue("pg_server") if target_kind in ("postgres", "odbc") else None
    emulator = request.getfixturevalue("azurite") if target_kind == "onelake" else None
    snow = request.getfixturevalue("fakesnow_server") if target_kind == "snowflake" else None
    return target_connection(target_kind, tmp_path, server, emulator, snow)
