"""Shared fixtures: a real PostgreSQL server per test session, target connections per kind."""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest

from sync_assets_tests.pg_server import PostgresServer

warnings.filterwarnings("ignore", category=dg.BetaWarning)
# unixODBC reads the project's driver list (Debian's own turns on a log file per process)
os.environ.setdefault("ODBCSYSINI", str(Path(__file__).resolve().parents[1] / "odbc"))

TARGET_KINDS = ["delta", "parquet", "duckdb", "postgres", "odbc"]
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_uri(pg_server) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.create_database(f"t{next(_db_counter)}")


def target_connection(kind: str, tmp_path, pg_server=None) -> dict:
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
    raise ValueError(kind)


def odbc_connection(uri: str) -> dict:
    """A `tsql` connection of flavor postgres: the ODBC writer against the test server."""
    u = urlparse(uri)
    return {"type": "tsql", "flavor": "postgres", "server": u.hostname, "port": u.port,
            "database": u.path.lstrip("/"), "user": u.username, "password": u.password or ""}


@pytest.fixture(params=TARGET_KINDS)
def target_kind(request) -> str:
    return request.param


@pytest.fixture
def target_conn(target_kind, tmp_path, request) -> dict:
    server = request.getfixturevalue("pg_server") if target_kind in ("postgres", "odbc") else None
    return target_connection(target_kind, tmp_path, server)
