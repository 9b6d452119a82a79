"""DuckDB database file as a target (the demo's warehouse)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from sync_assets import duck
from sync_assets.config.models import DuckDBConnection
from sync_assets.paths import resolve
from sync_assets.sql.literals import quote_string
from sync_assets.streams import closing
from sync_assets.targets.base import TargetWindow, window_predicate
from sync_assets.targets.sql_target import SqlSession, SqlTarget
from sync_assets.types import duckdb_type

INCOMING = "__sync_incoming"
STAGED = "__sync_staged"


class DuckDBSqlSession(SqlSession):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str) -> int:
        result = self.con.execute(sql).fetchall()
        if len(result) == 1 and len(result[0]) == 1 and isinstance(result[0][0], int):
            return result[0][0]
        return -1

    def scalar(self, sql: str):
        rows = self.con.execute(sql).fetchall()  # drain: DuckDB refuses work beside an open result
        return rows[0][0] if rows else None

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def _exists(self, schema: str, table: str) -> bool:
        sql = (
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
            f"{quote_string(schema)} AND table_name = {quote_string(table)}"
        )
        return bool(self.scalar(sql))

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        if not self._exists(schema, table):
            return None
        return self.con.sql(f'SELECT * FROM "{schema}"."{table}" LIMIT 0').to_arrow_table().schema

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        rows = self.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            f"{quote_string(schema)} AND table_name = {quote_string(table)} ORDER BY ordinal_position"
        )
        return dict(rows)

    def stage(self, reader: pa.RecordBatchReader, *, materialize: bool) -> str:
        self.con.register(INCOMING, reader)
        if not materialize:
            return INCOMING  # read once, straight from the stream
        self.con.execute(f"CREATE TEMP TABLE {STAGED} AS SELECT * FROM {INCOMING}")
        return STAGED

    def commit(self) -> None:
        self.con.commit()


class DuckDBTarget(SqlTarget):
    kind = "duckdb"
    dialect = "duckdb"
    default_schema = "main"

    def __init__(self, conn: DuckDBConnection, base_dir: str, object_id: str, schema, table):
        super().__init__(object_id, schema, table)
        self.path = resolve(base_dir, conn.path)
        self.memory_limit = conn.memory_limit

    @property
    def uri(self) -> str:
        return f"duckdb://{self.path}#{self.schema}.{self.table}"

    def type_of(self, arrow_type: pa.DataType) -> str:
        return duckdb_type(arrow_type)

    @contextmanager
    def session(self):
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duck.connect(self.path, memory_limit=self.memory_limit)
        try:
            con.begin()
            yield DuckDBSqlSession(con)
        finally:
            con.close()  # an uncommitted transaction is rolled back

    def read(self, window: TargetWindow | None = None) -> pa.RecordBatchReader:
        con = duck.connect(self.path, read_only=True)
        where = ""
        if window:
            schema = DuckDBSqlSession(con).table_schema(self.schema, self.table)
            where = " WHERE " + window_predicate(window, schema, "duckdb", self.table_sql)
        reader = con.sql(f"SELECT * FROM {self.table_sql}{where}").to_arrow_reader(100_000)

        return closing(reader, con.close)
