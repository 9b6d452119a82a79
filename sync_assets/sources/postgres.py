"""PostgreSQL as a source, read through ADBC (binary COPY under the hood) in Arrow batches."""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import quote, urlencode

import pyarrow as pa

from sync_assets.config.models import PostgresConnection, SourceSpec
from sync_assets.sources import postgres_pool
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sources.postgres_types import (
    SourceValueError,
    pg_type,
    plain_batch,
    plain_field,
    readable_sql,
)
from sync_assets.sql.literals import qualified
from sync_assets.types import MAX_LENGTH


def connect(uri: str):
    """A new ADBC PostgreSQL connection (the URI holds the password: never log it); sessions
    take theirs from `postgres_pool` instead."""
    return postgres_pool.connect(uri)


def postgres_uri(conn: PostgresConnection) -> str:
    """A libpq URI for a connection config (contains the password: never log it)."""
    if conn.dsn:
        return conn.dsn
    auth = quote(conn.user or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    query = f"?{urlencode(conn.options)}" if conn.options else ""
    at = f"{auth}@" if auth else ""
    return f"postgresql://{at}{conn.host}:{conn.port}/{conn.database}{query}"


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([plain_field(f) for f in schema])


def plain_reader(reader: pa.RecordBatchReader, lengths=None, bad_rows=None) -> pa.RecordBatchReader:
    """Wrap a driver reader so every value arrives exactly (see postgres_types), batch by batch."""
    schema = with_lengths(plain_schema(reader.schema), reader.schema, lengths or {})
    batches = (plain_batch(b, schema, bad_rows) for b in _driver_batches(reader))
    return pa.RecordBatchReader.from_batches(schema, batches)


def _driver_batches(reader: pa.RecordBatchReader):
    """The driver's batches; its one refusal without a column name is explained."""
    try:
        yield from reader
    except Exception as exc:
        if "date value out of range" not in str(exc):
            raise
        dates = [f.name for f in reader.schema if pa.types.is_date(f.type)]
        raise SourceValueError(
            f"a date column ({', '.join(dates)}) holds a date past what Arrow holds (year "
            "5874897); filter it out or map it in column_mappings"
        ) from None


def varchar_lengths(con, spec: SourceSpec) -> dict[str, int]:
    """{column: n} for the varchar(n) columns of the source table (the driver reports no
    length), so a PostgreSQL or Snowflake target keeps varchar(n)."""
    relation = qualified(spec.schema_ or "public", spec.object)
    with con.cursor() as cur:
        cur.execute(
            "SELECT attname, atttypmod - 4 FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND atttypid = 'varchar'::regtype AND atttypmod > 4 AND attnum > 0 AND NOT attisdropped",
            (relation,),
        )
        return dict(cur.fetchall())


def with_lengths(schema: pa.Schema, driver: pa.Schema, lengths: dict[str, int]) -> pa.Schema:
    """Declared lengths on the columns the driver reads as varchar (an expression over a
    varchar column is text, and keeps none)."""
    if not lengths:
        return schema
    fields = []
    for field, raw in zip(schema, driver, strict=True):
        if pg_type(raw) == "varchar" and field.name in lengths:
            field = field.with_metadata({MAX_LENGTH: str(lengths[field.name])})
        fields.append(field)
    return pa.schema(fields)


class PostgresSession(SourceSession):
    def __init__(self, con, lengths: dict[str, int] | None = None, relation: str | None = None):
        self.con = con
        self.lengths = lengths or {}  # varchar(n) lengths of the source table's columns
        self.relation = relation  # the source table (None for a query)
        self._open = []  # cursors whose streams are still being read (a dropped cursor closes its stream)

    def _cursor(self):
        return self.con.cursor()

    def _driver_schema(self, sql: str) -> pa.Schema:
        with self._cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
            return cur.fetch_arrow_table().schema

    def _readable(self, sql: str) -> str:
        """The query with casts for the columns the driver would not decode exactly."""
        return readable_sql(sql, self._driver_schema(sql))

    def schema(self, sql: str) -> pa.Schema:
        driver = self._driver_schema(sql)
        readable = readable_sql(sql, driver)
        schema = plain_schema(driver if readable == sql else self._driver_schema(readable))
        return with_lengths(schema, driver, self.lengths)

    def fetch_small(self, sql: str) -> pa.Table:
        with self._cursor() as cur:
            cur.execute(self._readable(sql))
            reader = plain_reader(cur.fetch_record_batch())
            return reader.read_all()

    def indexed(self, column: str) -> bool:
        if self.relation is None:
            return False
        with self._cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass($1) AND am.amname = "
                "'btree' AND i.indpred IS NULL AND a.attname = $2)",
                (self.relation, column),
            )
            return bool(cur.fetchall()[0][0])

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        readable = self._readable(sql)
        cur = self._cursor()  # closed with the connection at the end of the session
        self._open.append(cur)
        cur.execute(readable)
        return plain_reader(cur.fetch_record_batch(), self.lengths, self.bad_rows)


def end_session(uri: str, con, cursors=()) -> None:
    """End a session: close its cursors, and give the connection back to the pool with its
    transaction rolled back (a committed one is already over), or close it if that fails.
    On a connection the server dropped mid-read the rollback fails; the read's own error is
    what the run reports, so nothing is raised over it."""
    for cur in cursors:
        try:
            cur.close()
        except Exception:
            pass  # its stream died with the connection; the release below finds out
    postgres_pool.release(uri, con)


class PostgresSource(Source):
    dialect = "postgres"
    kind = "postgres"

    def __init__(self, conn: PostgresConnection, base_dir: str | None = None):
        self.conn = conn

    @contextmanager
    def session(self, spec: SourceSpec):
        uri = postgres_uri(self.conn)
        con = postgres_pool.acquire(uri)
        session = None
        try:
            with con.cursor() as cur:
                # probe and read must see one snapshot: the watermark stored with the
                # data then describes exactly the rows that were read.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            table = spec.object and not spec.query
            lengths = varchar_lengths(con, spec) if table else {}
            relation = qualified(spec.schema_ or "public", spec.object) if table else None
            # held here until the stream is consumed
            session = PostgresSession(con, lengths, relation)
            yield session
        finally:
            end_session(uri, con, session._open if session else ())
