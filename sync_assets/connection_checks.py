"""`test-connection`: can we reach each connection, and may we do what its objects need?

Used by `sync-assets test-connection` and by the `test_connections` job in the Dagster UI.
Every check says what it tried; failures carry the driver's message with secrets redacted.
On T-SQL connections the checks ask the server for the permissions the configured objects
need: SELECT (and VIEW CHANGE TRACKING, with Change Tracking enabled) on source tables,
CREATE TABLE on the database for targets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from sync_assets.config.models import ProjectConfig
from sync_assets.connection_types import check_function, default_schema
from sync_assets.paths import is_url, resolve
from sync_assets.secrets import connection_secrets, redact
from sync_assets.snowflake.connection import Connection
from sync_assets.sources.postgres import connect, postgres_uri
from sync_assets.sql.flavors import SQLSERVER
from sync_assets.sql.statements import string_literal, table_name
from sync_assets.tsql import odbc


@dataclass(frozen=True)
class Check:
    connection: str
    what: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.connection}: {self.what}" + (
            f" — {self.detail}" if self.detail else ""
        )


def tsql_permission_queries(project: ProjectConfig, name: str) -> list[tuple[str, str]]:
    """(what, query returning 1 when granted) for the objects that use T-SQL connection `name`."""
    queries = []
    for obj in project.active_objects():
        if obj.source.connection == name and obj.source.object:
            table = table_name(
                obj.source.schema_ or default_schema(project.connections[name]),
                obj.source.object,
                SQLSERVER,
            )
            queries.append(
                (
                    f"SELECT on {table}",
                    f"SELECT HAS_PERMS_BY_NAME({string_literal(table, SQLSERVER)}, N'OBJECT', N'SELECT')",
                )
            )
            if obj.sync_type == "change_tracking":
                queries.append(
                    (
                        f"VIEW CHANGE TRACKING on {table}",
                        f"SELECT HAS_PERMS_BY_NAME({string_literal(table, SQLSERVER)}, N'OBJECT', N'VIEW CHANGE TRACKING')",
                    )
                )
                queries.append(
                    (
                        f"Change Tracking enabled on {table}",
                        f"SELECT CASE WHEN CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID({string_literal(table, SQLSERVER)})) IS NULL THEN 0 ELSE 1 END",
                    )
                )
        if obj.target.connection == name:
            queries.append(
                (
                    "CREATE TABLE in the database",
                    "SELECT HAS_PERMS_BY_NAME(NULL, N'DATABASE', N'CREATE TABLE')",
                )
            )
    return list(dict.fromkeys(queries))


def check_tsql(project: ProjectConfig, name: str, conn, base_dir: Path) -> list[Check]:
    """Connect, then ask the server for the permissions the objects need."""
    con = odbc.connect(conn)
    try:
        cur = con.cursor()
        flavor = odbc.flavor_of(conn)
        if flavor.dialect == "postgres":
            version = cur.execute("SELECT version()").fetchone()[0]
            return [Check(name, "connect", True, version.split(",")[0])]
        who = cur.execute(
            "SELECT SUSER_SNAME(), DB_NAME(), CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))"
        ).fetchone()
        checks = [Check(name, "connect", True, f"as {who[0]} to {who[1]} (version {who[2]})")]
        for what, query in tsql_permission_queries(project, name):
            granted = cur.execute(query).fetchone()[0] == 1
            checks.append(Check(name, what, granted, "" if granted else "not granted"))
        return checks
    finally:
        con.close()


def check_postgres(project: ProjectConfig, name: str, conn, base_dir: Path) -> list[Check]:
    con = connect(postgres_uri(conn))
    try:
        with con.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            user, db = cur.fetchone()
        return [Check(name, "connect", True, f"as {user} to {db}")]
    finally:
        con.close()


def check_snowflake(project: ProjectConfig, name: str, conn, base_dir: Path) -> list[Check]:
    con = Connection(conn, autocommit=True)
    try:
        user, db, role = (
            con.cursor()
            .execute("SELECT CURRENT_USER(), CURRENT_DATABASE(), CURRENT_ROLE()")
            .fetchone()
        )
        return [Check(name, "connect", True, f"as {user} (role {role}) to {db}")]
    finally:
        con.close()


def check_location(project: ProjectConfig, name: str, conn, base_dir: Path) -> list[Check]:
    """A file or folder target: writable (remote URLs are reached at the first sync)."""
    location = conn.path if conn.type == "duckdb" else conn.root
    if is_url(location):
        return [
            Check(name, "remote location", True, "not checked from here: reached at first sync")
        ]
    path = Path(resolve(base_dir, location))
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), path)
    writable = os.access(probe, os.W_OK)
    return [
        Check(
            name,
            f"{'exists' if path.exists() else 'can be created'}: {path}",
            writable,
            "" if writable else "not writable",
        )
    ]


def check_connections(
    project: ProjectConfig, base_dir: Path, names: list[str] | None = None
) -> list[Check]:
    """Run the checks of every connection (or of `names`)."""
    results = []
    for name, conn in project.connections.items():
        if names and name not in names:
            continue
        try:
            results += check_function(conn)(project, name, conn, base_dir)
        except Exception as exc:  # report, don't raise: the other connections still get checked
            results.append(
                Check(
                    name,
                    "connect",
                    False,
                    redact(f"{type(exc).__name__}: {exc}", connection_secrets(conn)),
                )
            )
    return results


def connections_job(project: ProjectConfig, base_dir: Path):
    """A job named `test_connections`: run it from the UI's launchpad to check every connection."""

    @dg.op(name="check_connections")
    def _check(context):  # no annotation: string annotations (__future__) break dagster here
        results = check_connections(project, base_dir)
        for check in results:
            (context.log.info if check.ok else context.log.error)(check.line())
        context.add_output_metadata(
            {"checks": dg.MetadataValue.md("\n".join(f"- {c.line()}" for c in results))}
        )
        failed = [c for c in results if not c.ok]
        if failed:
            raise dg.Failure(
                f"{len(failed)} connection check(s) failed",
                metadata={"failed": "; ".join(c.line() for c in failed)},
            )

    @dg.job(
        name="test_connections",
        description="Connect to every configured connection and check permissions.",
    )
    def _job():
        _check()

    return _job
