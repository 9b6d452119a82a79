"""Snowflake connections through dagster-snowflake's SnowflakeResource, behind the small
cursor API the staged SQL writer uses (`execute(sql, *binds)`, `autocommit`, `commit`)."""

from __future__ import annotations

from contextlib import ExitStack

from sync_assets.config.models import SnowflakeConnection
from sync_assets.secrets import connection_secrets, redact


def resource(conn: SnowflakeConnection):
    """The SnowflakeResource for a connection config (qmark binds, as the writer uses)."""
    from dagster_snowflake import SnowflakeResource

    fields = {
        "account": conn.account,
        "user": conn.user,
        "password": conn.password,
        "database": conn.database,
        "schema_": conn.schema_,
        "role": conn.role,
        "warehouse": conn.warehouse,
        "private_key": conn.private_key,
        "private_key_path": conn.private_key_path,
        "private_key_password": conn.private_key_password,
        "authenticator": conn.authenticator,
        "additional_snowflake_connection_args": dict(conn.additional_snowflake_connection_args)
        or None,
        "paramstyle": "qmark",
    }
    return SnowflakeResource(**{k: v for k, v in fields.items() if v is not None})


class Cursor:
    def __init__(self, cur):
        self.raw = cur

    def execute(self, sql: str, *binds):
        self.raw.execute(sql, binds or None)
        return self

    def fetchone(self):
        return self.raw.fetchone()

    def fetchall(self):
        return self.raw.fetchall()

    @property
    def rowcount(self) -> int:
        return self.raw.rowcount if self.raw.rowcount is not None else -1

    @property
    def description(self):
        return self.raw.description

    def close(self) -> None:
        self.raw.close()


class Connection:
    """A Snowflake connection held open until close()."""

    def __init__(self, conn: SnowflakeConnection, autocommit: bool):
        self._stack = ExitStack()
        try:
            self.raw = self._stack.enter_context(resource(conn).get_connection())
        except Exception as exc:  # the connector's message may echo settings
            self._stack.close()
            raise ConnectionError(
                redact(f"Snowflake connection failed: {exc}", connection_secrets(conn))
            ) from None
        self._autocommit = None
        self.autocommit = autocommit

    @property
    def autocommit(self) -> bool:
        return bool(self._autocommit)

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if value != self._autocommit:
            self.raw.autocommit(value)
            self._autocommit = value

    def cursor(self) -> Cursor:
        return Cursor(self.raw.cursor())

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self._stack.close()
