"""PostgreSQL as a source, read through ADBC (binary COPY under the hood) in Arrow batches."""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import quote, urlencode

import pyarrow as pa

from sync_assets.config.models import PostgresConnection, SourceSpec
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sources.postgres_types import (
    SourceValueError,
    plain_batch,
    plain_field,
    readable_sql,
)


def connect(uri: str):
    """An ADBC PostgreSQL connection (the URI holds the password: never log it)."""
    # imported on first use: the driver manager costs ~1 s of start-up for every process
    import adbc_driver_postgresql.dbapi as adbc_pg

    return adbc_pg.connect(uri)


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


def plain_reader(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """Wrap a driver reader so every value arrives exactly (see postgres_types), batch by batch."""
    schema = plain_schema(reader.schema)
    batches = (plain_batch(b, schema) for b in _driver_batches(reader))
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


class PostgresSession(SourceSession):
    def __init__(self, con):
        self.con = con
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
        return plain_schema(driver if readable == sql else self._driver_schema(readable))

    def fetch_small(self, sql: str) -> pa.Table:
        with self._cursor() as cur:
            cur.execute(self._readable(sql))
            reader = plain_reader(cur.fetch_record_batch())
            return reader.read_all()

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        readable = self._readable(sql)
        cur = self._cursor()  # closed with the connection at the end of the session
        self._open.append(cur)
        cur.execute(readable)
        return plain_reader(cur.fetch_record_batch())


class PostgresSource(Source):
    dialect = "postgres"
    kind = "postgres"

    def __init__(self, conn: PostgresConnection, base_dir: str | None = None):
        self.conn = conn

    @contextmanager
    def session(self, spec: SourceSpec):
        con = connect(postgres_uri(self.conn))
        try:
            with con.cursor() as cur:
                # probe and read must see one snapshot: the watermark stored with the
                # data then describes exactly the rows that were read.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            session = PostgresSession(con)  # held here until the stream is consumed
            yield session
        finally:
            con.rollback()
            con.close()
