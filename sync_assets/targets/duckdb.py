"""DuckDB database file as a target (the demo's warehouse), through the one SQL writer.

Bulk load: the Arrow stream is registered as a view and read by one INSERT … SELECT (a TEMP
table when a merge reads it more than once).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from sync_assets import duck
from sync_assets.config.models import DuckDBConnection
from sync_assets.locks import file_lock
from sync_assets.paths import resolve
from sync_assets.sql.flavors import DUCKDB
from sync_assets.sql.literals import quote_string
from sync_assets.streams import closing
from sync_assets.targets.base import TargetWindow
from sync_assets.targets.sql_writer import SqlSession, SqlTarget
from sync_assets.types import cast_reader, duckdb_type

INCOMING = "__sync_incoming"
STAGED = "__sync_staged"


class DuckDBSqlSession(SqlSession):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, statement: str, *binds) -> int:
        result = self.con.execute(statement, list(binds) or None).fetchall()
        if len(result) == 1 and len(result[0]) == 1 and isinstance(result[0][0], int):
            return result[0][0]
        return 0

    def rows(self, statement: str, *binds) -> list[tuple]:
        # drained at once: DuckDB refuses work beside an open result
        return self.con.execute(statement, list(binds) or None).fetchall()

    def commit(self) -> None:
        self.con.commit()

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        if not self.column_types(schema, table):
            return None
        return self.con.sql(f'SELECT * FROM "{schema}"."{table}" LIMIT 0').to_arrow_table().schema

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        return dict(
            self.rows(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
                f"{quote_string(schema)} AND table_name = {quote_string(table)} ORDER BY ordinal_position"
            )
        )

    def stage(self, reader: pa.RecordBatchReader, table: pa.Schema, *, materialize: bool) -> str:
        self.con.register(INCOMING, reader)
        if not materialize:
            return INCOMING  # read once, straight from the stream
        self.con.execute(f"CREATE TEMP TABLE {STAGED} AS SELECT * FROM {INCOMING}")
        return STAGED


class DuckDBTarget(SqlTarget):
    kind = "duckdb"
    flavor = DUCKDB
    typed_staging = False

    def __init__(
        self, conn: DuckDBConnection, base_dir: str, object_id: str, schema: str, table: str
    ):
        super().__init__(object_id, schema, table)
        self.path = resolve(base_dir, conn.path)
        self.memory_limit = conn.memory_limit

    @property
    def uri(self) -> str:
        return f"duckdb://{self.path}#{self.schema}.{self.table}"

    def column_type(self, field: pa.Field) -> str:
        return duckdb_type(field.type)

    def prepare(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """Decimals past 38 digits as their exact text (DuckDB's DECIMAL stops at 38 and it
        cannot scan Arrow's decimal256); nanosecond instants and times as microseconds, which
        TIMESTAMPTZ and TIME hold (a safe cast: a value with nanoseconds is refused, where
        DuckDB would truncate it)."""
        fields = [f.with_type(_stored(f.type)) for f in reader.schema]
        if all(f.type == g.type for f, g in zip(fields, reader.schema, strict=True)):
            return reader
        return cast_reader(reader, pa.schema(fields))

    def writer_lock(self):
        """A file lock beside the DuckDB file: DuckDB itself lets one process write a file,
        and refuses a second at once, with no wait and no name."""
        return file_lock(Path(f"{self.path}.sync-lock"), self.object_id)

    @contextmanager
    def session(self, autocommit: bool = False):
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duck.connect(self.path, memory_limit=self.memory_limit)
        try:
            if not autocommit:
                con.begin()
            yield DuckDBSqlSession(con)
        finally:
            con.close()  # an uncommitted transaction is rolled back

    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        con = duck.connect(self.path, read_only=True)
        schema = DuckDBSqlSession(con).table_schema(self.schema, self.table)
        reader = con.sql(self.select_sql(schema, window, columns)).to_arrow_reader(100_000)
        return closing(reader, con.close)


def _stored(t: pa.DataType) -> pa.DataType:
    if pa.types.is_decimal256(t):
        return pa.string()
    if pa.types.is_timestamp(t) and t.unit == "ns" and t.tz:
        return pa.timestamp("us", t.tz)
    if t == pa.time64("ns"):
        return pa.time64("us")
    return t
