"""Tables on SQL Server / Azure SQL, Synapse dedicated pools and Fabric Warehouse (and
PostgreSQL through psqlODBC), written through pyodbc by the one SQL writer.

Bulk load: a staging table created with the target's column types, loaded with parameter
arrays of one Arrow batch each (`fast_executemany`), or with COPY INTO from Parquet staged in
ADLS / OneLake (Synapse, Fabric Warehouse). Flavors without DDL in transactions run the DDL
and the staging load first, in autocommit; the target table only changes at COMMIT either way.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import pyarrow as pa

from sync_assets.bad_rows import Limits
from sync_assets.config.models import TsqlConnection
from sync_assets.secrets import odbc_attributes
from sync_assets.sql import statements as sql
from sync_assets.streams import closing, nested_as_json
from sync_assets.targets.base import TargetWindow
from sync_assets.targets.sql_writer import SqlSession, SqlTarget
from sync_assets.tsql import odbc
from sync_assets.tsql.copy_staging import CopyStager
from sync_assets.tsql.types import arrow_type_of, column_type, field_max_length
from sync_assets.types import JSON_TEXT, cast_reader, holds_json


class OdbcSession(SqlSession):
    """A pyodbc-style connection (also Snowflake's, through `snowflake.connection`)."""

    def __init__(self, con, target: OdbcTarget):
        self.con, self.target, self.flavor = con, target, target.flavor
        self.cur = con.cursor()
        self.stage_name: str | None = None

    def execute(self, statement: str, *binds) -> int:
        self.cur.execute(statement, *binds)
        return max(self.cur.rowcount, 0)

    def rows(self, statement: str, *binds) -> list[tuple]:
        self.cur.execute(statement, *binds)
        return [tuple(r) for r in self.cur.fetchall()]

    def begin(self) -> None:
        self.con.autocommit = False

    def commit(self) -> None:
        self.con.commit()

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        rows = self.rows(self.target.catalog_sql(), schema, table)
        if not rows:
            return None
        return pa.schema([pa.field(r[0], self.target.arrow_type(r)) for r in rows])

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        return {
            r[0]: self.target.catalog_type(r)
            for r in self.rows(self.target.catalog_sql(), schema, table)
        }

    def stage(self, reader: pa.RecordBatchReader, table: pa.Schema, *, materialize: bool) -> str:
        # staging columns: the table's types, unbounded (a value longer than the target
        # column fails at the apply, inside the transaction, with the server's own message)
        schema = pa.schema(
            [
                table.field(n) if n in table.names else reader.schema.field(n)
                for n in reader.schema.names
            ]
        )
        self.stage_name = sql.staging_table(self.target.object_id, self.flavor)
        self.execute(sql.drop_staging_sql(self.stage_name, self.flavor))
        columns = [(f.name, self.target.column_type(f.remove_metadata())) for f in schema]
        self.execute(sql.create_staging_sql(self.stage_name, columns, self.flavor))
        self.target.bulk_load(self.cur, self.stage_name, cast_reader(reader, schema))
        return self.stage_name

    def cleanup(self) -> None:
        if self.stage_name and not self.flavor.temp_staging:
            self.con.rollback()
            self.con.autocommit = True
            self.execute(sql.drop_staging_sql(self.stage_name, self.flavor))


_LENGTH_TYPES = ("VARCHAR", "NVARCHAR", "CHAR", "NCHAR", "CHARACTER VARYING", "CHARACTER")
_LABELS = {"sqlserver": "SQL Server", "synapse": "Synapse", "fabric_warehouse": "Fabric Warehouse"}


class OdbcTarget(SqlTarget):
    """One table on a T-SQL endpoint (or PostgreSQL through ODBC)."""

    kind = "tsql"

    def __init__(
        self, conn: TsqlConnection, base_dir: str, object_id: str, schema: str, table: str
    ):
        self.conn = conn
        self.flavor = self.flavor_of(conn)
        super().__init__(object_id, schema, table)

    @staticmethod
    def flavor_of(conn):
        return odbc.flavor_of(conn)

    def value_limits(self) -> Limits:
        limits = self.type_limits()
        return dataclasses.replace(limits, lengths=self.declared_lengths(self._measures()))

    def type_limits(self) -> Limits:
        """What the flavor's types cannot hold. pyodbc binds dates and timestamps as Python
        values, which hold the years 1-9999 (as DATE / DATETIME2 do) and microseconds; T-SQL
        FLOAT has no NaN or infinity; PostgreSQL text no NUL."""
        if self.flavor.dialect == "tsql":
            label = _LABELS.get(self.flavor.name, "T-SQL")
            return Limits(label, special_floats=False, years=(1, 9999), nanoseconds=False)
        return Limits("PostgreSQL", nul_in_text=False, years=(1, 9999), nanoseconds=False)

    def _measures(self) -> dict[str, str]:
        """How declared text lengths count: NVARCHAR(n) in UTF-16 units, VARCHAR(n) in bytes
        (UTF-8 collations; an upper bound for single-byte code pages), PostgreSQL in
        characters."""
        if self.flavor.dialect == "tsql":
            return {"nvarchar": "utf16", "nchar": "utf16", "varchar": "bytes", "char": "bytes"}
        return {"character varying": "characters", "character": "characters"}

    @property
    def uri(self) -> str:
        c = self.conn
        if c.server:
            where = f"{c.server}/{c.database}"
        else:  # only where it points: the rest of a raw connection string may hold secrets
            given = odbc_attributes(c.odbc_connect or "")
            where = f"{given.get('SERVER', '')}/{given.get('DATABASE', '')}"
        return f"{self.flavor.name}://{where}#{self.schema}.{self.table}"

    # ------------------------------------------------------------------ engine hooks (Snowflake overrides them)

    def connect(self, autocommit: bool):
        """A connection with pyodbc's API: cursor().execute(sql, *binds), autocommit, commit."""
        return odbc.connect(self.conn, autocommit=autocommit)

    def storage(self, field: pa.Field) -> tuple[str, pa.DataType]:
        """(SQL type, Arrow type the column holds) for a field."""
        return column_type(field.type, self.flavor, field_max_length(field))

    def column_type(self, field: pa.Field) -> str:
        return self.storage(field)[0]

    def catalog_sql(self) -> str:
        """Columns of one table (binds: schema, table), in order."""
        return sql.table_columns_sql(self.flavor)

    def arrow_type(self, row) -> pa.DataType:
        return arrow_type_of(row[1], row[2], row[3], row[4])

    def catalog_type(self, row) -> str:
        """A catalog row as a SQL type: DECIMAL(12,2), DATETIME2(6), NVARCHAR(MAX)…"""
        name = str(row[1]).upper()
        if name in ("DECIMAL", "NUMERIC", "NUMBER") and row[2] is not None:
            return f"{name}({row[2]},{row[3] or 0})"
        if name in ("DATETIME2", "DATETIMEOFFSET", "TIME") and len(row) > 4 and row[4] is not None:
            return f"{name}({row[4]})"
        if len(row) > 5 and row[5] not in (None, -1) and name in _LENGTH_TYPES:  # -1: (MAX)
            return f"{name}({row[5]})"
        return name

    def stream_rows(self, cur, schema: pa.Schema):
        return odbc.stream_cursor(cur, schema, 65_536)

    def bulk_load(self, cur, stage: str, reader: pa.RecordBatchReader) -> None:
        if self.conn.staging and self.flavor.copy_into:
            CopyStager(self.conn.staging, self.object_id).load(cur, stage, reader, self.flavor)
            return
        insert = sql.insert_values_sql(stage, reader.schema.names, self.flavor)
        cur.fast_executemany = True
        try:
            for batch in reader:
                if batch.num_rows:
                    cur.setinputsizes(odbc.input_sizes(batch, self.flavor))
                    cur.executemany(insert, odbc.bind_columns(batch))
        finally:
            # the sizes stay on the cursor: the state row written next would be bound with
            # them (its JSON text as a timestamp when the third column was one)
            cur.setinputsizes(None)
            cur.fast_executemany = False

    def prepare(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """Nested values as JSON text, every column as the type the table stores."""
        reader = nested_as_json(reader)
        fields = [
            pa.field(f.name, self.storage(f)[1], metadata=_marked_json(f)) for f in reader.schema
        ]
        return cast_reader(reader, pa.schema(fields))

    @contextmanager
    def session(self, autocommit: bool = False):
        con = self.connect(autocommit)
        try:
            if self.flavor.name == "sqlserver":
                con.cursor().execute("SET XACT_ABORT ON")  # any error dooms the whole transaction
            yield OdbcSession(con, self)
        finally:
            try:
                if not con.autocommit:
                    con.rollback()
            finally:
                con.close()

    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        con = self.connect(autocommit=False)
        session = OdbcSession(con, self)
        schema = session.table_schema(self.schema, self.table)
        if schema is None:
            con.close()
            raise FileNotFoundError(f"{self.uri}: table does not exist")
        cur = con.cursor()
        cur.execute(self.select_sql(schema, window, columns))
        if columns:
            schema = pa.schema([schema.field(c) for c in columns])
        reader = pa.RecordBatchReader.from_batches(schema, self.stream_rows(cur, schema))
        return closing(reader, cur.close, con.close)


def _marked_json(field: pa.Field) -> dict | None:
    """The field's metadata, marking a json column that becomes text (JSON_TEXT)."""
    if holds_json(field):
        return {**(field.metadata or {}), JSON_TEXT: b"1"}
    return field.metadata
