"""PostgreSQL as a source, read through ADBC (binary COPY under the hood) in Arrow batches."""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.config.models import PostgresConnection, SourceSpec
from sync_assets.sources.base import Source, SourceSession

# Unconstrained NUMERIC has no declared scale: read it with 9 decimals and fail loudly
# (pyarrow's safe cast) rather than round if a value does not fit.
UNCONSTRAINED_NUMERIC = pa.decimal128(38, 9)


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


def _numeric_type(field: pa.Field) -> pa.DataType:
    typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
    if typmod < 4:
        return UNCONSTRAINED_NUMERIC
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def _plain_field(field: pa.Field) -> pa.Field:
    """The Arrow field we expose for a field as the driver returns it (no extension types)."""
    kind = (field.metadata or {}).get(b"POSTGRESQL:type", b"").decode()
    if kind == "numeric":
        return pa.field(field.name, _numeric_type(field))
    if isinstance(field.type, pa.BaseExtensionType):
        return pa.field(field.name, field.type.storage_type)
    return pa.field(field.name, field.type)


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_plain_field(f) for f in schema])


def _plain_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        if column.type != field.type:
            column = pc.cast(column, field.type)  # safe cast: raises rather than truncating
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def plain_reader(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """Wrap a driver reader so NUMERIC is decimal and JSON is text, batch by batch."""
    schema = plain_schema(reader.schema)
    batches = (_plain_batch(b, schema) for b in reader)
    return pa.RecordBatchReader.from_batches(schema, batches)


class PostgresSession(SourceSession):
    def __init__(self, con):
        self.con = con
        self._open = []  # cursors whose streams are still being read (a dropped cursor closes its stream)

    def _cursor(self):
        return self.con.cursor()

    def schema(self, sql: str) -> pa.Schema:
        with self._cursor() as cur:
            cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
            return plain_schema(cur.fetch_arrow_table().schema)

    def fetch_small(self, sql: str) -> pa.Table:
        with self._cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        return pa.Table.from_batches(
            [_plain_batch(b, plain_schema(table.schema)) for b in table.to_batches()],
            plain_schema(table.schema),
        )

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        cur = self._cursor()  # closed with the connection at the end of the session
        self._open.append(cur)
        cur.execute(sql)
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
