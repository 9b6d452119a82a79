"""PostgreSQL as a target, through the one SQL writer.

Bulk load: binary COPY through ADBC, straight into the table for replace / append when every
column takes the stream as it is, else into a TEMP table that the statements cast from.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from urllib.parse import urlsplit

import pyarrow as pa

from sync_assets.bad_rows import Limits
from sync_assets.config.models import PostgresConnection
from sync_assets.secrets import redact
from sync_assets.sources import postgres_pool
from sync_assets.sources.postgres import (
    end_session,
    plain_reader,
    plain_schema,
    postgres_uri,
)
from sync_assets.sql.flavors import POSTGRES
from sync_assets.sql.literals import quote_ident, quote_string
from sync_assets.streams import closing, nested_as_json
from sync_assets.targets.base import TargetWindow
from sync_assets.targets.sql_writer import SqlSession, SqlTarget
from sync_assets.types import array_element, cast_reader, field_max_length, postgres_type

STAGED = "__sync_staged"
# Column types whose binary COPY input is what the ADBC writer sends for the Arrow type the
# column reads back as. A stream whose types all match such columns is copied straight into
# the table; anything else (jsonb, uuid, enums, a narrower integer...) is staged and cast.
_DIRECT_TYPES = {
    "bigint",
    "integer",
    "smallint",
    "real",
    "double precision",
    "boolean",
    "text",
    "bytea",
    "character varying",
    "numeric",
    "date",
    "timestamp with time zone",
    "timestamp without time zone",
}
# Arrow types the COPY writer does not take, widened losslessly before staging.
_COPY_WIDEN = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}


def _numbered(statement: str, binds: tuple) -> str:
    """`?` markers as PostgreSQL's $1, $2… (our statements carry no other `?`)."""
    for i in range(1, len(binds) + 1):
        statement = statement.replace("?", f"${i}", 1)
    return statement


class PostgresSqlSession(SqlSession):
    def __init__(self, con):
        self.con = con
        self.cur = con.cursor()

    def execute(self, statement: str, *binds) -> int:
        self.cur.execute(_numbered(statement, binds), binds or None)
        return max(self.cur.rowcount, 0)

    def rows(self, statement: str, *binds) -> list[tuple]:
        self.cur.execute(_numbered(statement, binds), binds or None)
        return self.cur.fetchall()

    def commit(self) -> None:
        self.con.commit()

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        regclass = quote_string(f"{quote_ident(schema)}.{quote_ident(table)}")
        if self.scalar(f"SELECT to_regclass({regclass}) IS NOT NULL") is not True:
            return None
        self.cur.execute(f"SELECT * FROM {quote_ident(schema)}.{quote_ident(table)} LIMIT 0")
        return plain_schema(self.cur.fetch_arrow_table().schema)

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        regclass = quote_string(f"{quote_ident(schema)}.{quote_ident(table)}")
        return dict(
            self.rows(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                f"WHERE attrelid = to_regclass({regclass}) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        )

    def stage(self, reader: pa.RecordBatchReader, table: pa.Schema, *, materialize: bool) -> str:
        # binary COPY into a temp table: the server holds the batch, the client one batch
        self.cur.adbc_ingest(STAGED, reader, mode="create", temporary=True)
        return STAGED

    def loads_directly(
        self, incoming: pa.Schema, types: dict[str, str], schema: str, table: str
    ) -> bool:
        existing = self.table_schema(schema, table)  # the Arrow types the columns read back as
        return all(
            f.name in types
            and types[f.name].split("(")[0] in _DIRECT_TYPES
            and existing.field(f.name).type == f.type
            for f in incoming
        )

    def load(self, reader: pa.RecordBatchReader, schema: str, table: str) -> int:
        # binary COPY (with the column list) into the table itself: one write of each row
        return self.cur.adbc_ingest(table, reader, mode="append", db_schema_name=schema)

    def clear(self, table_sql: str, window: str | None) -> int:
        if window or self._referenced(table_sql):
            return super().clear(table_sql, window)
        # the whole table: TRUNCATE (transactional here) frees its pages at once, where a
        # DELETE would leave every old row behind as a dead tuple until VACUUM. Readers of
        # the table wait for the commit instead of seeing the old rows meanwhile.
        rows = self.scalar(f"SELECT count(*) FROM {table_sql}")
        self.execute(f"TRUNCATE TABLE {table_sql}")
        return rows

    def _referenced(self, table_sql: str) -> bool:
        """Whether a foreign key points at the table (TRUNCATE would refuse)."""
        return bool(
            self.scalar(
                f"SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = {quote_string(table_sql)}::regclass)"
            )
        )


def _copyable(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _copyable(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_timestamp(t) and t.unit == "ns":  # PostgreSQL keeps microseconds: a safe
        return pa.timestamp("us", t.tz)  # cast refuses a value with nanoseconds
    if t == pa.time64("ns"):
        return pa.time64("us")
    return _COPY_WIDEN.get(t, t)


def _dsn_location(dsn: str) -> str:
    """host:port/database of a libpq URI or key=value DSN, without its credentials."""
    if "://" in dsn:
        url = urlsplit(dsn)
        return f"{url.hostname or 'localhost'}:{url.port or 5432}{url.path or '/'}"
    pairs = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    pairs = {k: v.strip("'") for k, v in pairs.items()}
    return f"{pairs.get('host', 'localhost')}:{pairs.get('port', 5432)}/{pairs.get('dbname', '')}"


class PostgresTarget(SqlTarget):
    kind = "postgres"
    flavor = POSTGRES
    typed_staging = False

    def __init__(
        self, conn: PostgresConnection, base_dir: str, object_id: str, schema: str, table: str
    ):
        super().__init__(object_id, schema, table)
        self.conn = conn

    def value_limits(self) -> Limits:
        # text and jsonb have no U+0000; timestamps and times keep microseconds; varchar(n)
        # counts characters
        lengths = self.declared_lengths(
            {"character varying": "characters", "character": "characters"}
        )
        return Limits("PostgreSQL", nul_in_text=False, nanoseconds=False, lengths=lengths)

    @property
    def uri(self) -> str:
        c = self.conn
        where = f"{c.host}:{c.port}/{c.database}" if c.host else _dsn_location(c.dsn or "")
        return f"postgresql://{where}#{self.schema}.{self.table}"

    def column_type(self, field: pa.Field) -> str:
        return postgres_type(field.type, field_max_length(field))

    def prepare(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        reader = nested_as_json(reader, keep=lambda t: array_element(t) is not None)
        schema = pa.schema(
            [pa.field(f.name, _copyable(f.type), metadata=f.metadata) for f in reader.schema]
        )
        if schema.equals(reader.schema):
            return reader
        return cast_reader(reader, schema)  # safe casts that name a value that does not fit

    def _connect(self, uri: str):
        try:
            return postgres_pool.acquire(uri)  # reused: a new connection costs ~50 ms
        except Exception as exc:  # the driver's message may echo the URI
            raise ConnectionError(redact(str(exc), [self.conn.password])) from None

    @contextmanager
    def session(self, autocommit: bool = False):
        # ADBC connections are in a transaction until commit: autocommit sessions only read
        uri = postgres_uri(self.conn)
        con = self._connect(uri)
        session = None
        try:
            session = PostgresSqlSession(con)
            yield session
        finally:
            # a dropped connection's rollback does not hide the error
            end_session(uri, con, [session.cur] if session else ())

    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        uri = postgres_uri(self.conn)
        con = self._connect(uri)
        try:
            session = PostgresSqlSession(con)
            schema = session.table_schema(self.schema, self.table)
            session.cur.execute(self.select_sql(schema, window, columns))
            reader = plain_reader(session.cur.fetch_record_batch())
        except BaseException:
            end_session(uri, con)
            raise
        return closing(reader, lambda: end_session(uri, con, [session.cur]))
