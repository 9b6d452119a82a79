"""SQL Server / Azure SQL, Synapse and Fabric Warehouse (and PostgreSQL through psqlODBC) as
a source, read through pyodbc in Arrow batches of `batch_size` rows.

A read session is one transaction: SNAPSHOT isolation on SQL Server (Fabric Warehouse always
runs snapshot isolation; Synapse has no snapshot level and reads what its database option
gives), REPEATABLE READ on PostgreSQL. `snapshot_reads: false` on the connection skips the
isolation statement for databases that do not allow snapshot isolation; reads stay bounded
by the probed watermark. The probe and the stream then see the same data, so
the stored watermark or Change Tracking version describes exactly the rows that were read.
"""

from __future__ import annotations

from contextlib import contextmanager

import pyarrow as pa

from sync_assets.config.models import SourceSpec, TsqlConnection
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sql.literals import quote_ident
from sync_assets.tsql import odbc, seven_digits
from sync_assets.tsql.types import MAX_LENGTH, arrow_type_of

ISOLATION = {
    "sqlserver": "SET TRANSACTION ISOLATION LEVEL SNAPSHOT",
    "fabric_warehouse": "SET TRANSACTION ISOLATION LEVEL SNAPSHOT",
    "postgres": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
}


def system_type(name: str) -> tuple[str, int | None, int | None]:
    """'decimal(12,2)' -> ('decimal', 12, 2); 'datetime2(6)' -> ('datetime2', None, 6)."""
    base, _, rest = name.partition("(")
    args = [a for a in rest.rstrip(")").split(",") if a.strip() and a.strip() != "max"]
    nums = [int(a) for a in args]
    if base in ("decimal", "numeric"):
        return base, (nums + [18])[0], (nums[1:] + [0])[0]
    return base, None, nums[0] if nums else None


def _described_tsql(cur, sql: str) -> pa.Schema:
    """The server's own description of a query: exact types, zones included."""
    cur.execute("EXEC sp_describe_first_result_set @tsql = ?", sql)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return pa.schema([tsql_field(r["name"], r["system_type_name"]) for r in rows])


def tsql_field(name: str, system_type_name: str) -> pa.Field:
    """The Arrow field read for a T-SQL column type ('decimal(12,2)', 'nvarchar(20)', …)."""
    base, precision, scale = system_type(system_type_name)
    kind = pa.uuid() if base == "uniqueidentifier" else arrow_type_of(base, precision, scale, scale)
    field = pa.field(name, kind)
    if base in ("varchar", "nvarchar", "char", "nchar") and scale:
        field = field.with_metadata({MAX_LENGTH: str(scale)})  # a declared length
    if seven_digits.flagged(base, scale):  # read as text: see tsql/seven_digits.py
        field = field.with_metadata({seven_digits.SEVEN_DIGITS: base})
    return field


# PostgreSQL types (as pg_typeof spells them) whose Arrow type ODBC's description misses
_POSTGRES_TYPES = {
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "uuid": pa.uuid(),
    "real": pa.float32(),
}


def _with_postgres_types(cur, sql: str, described: pa.Schema) -> pa.Schema:
    """ODBC describes timestamptz as a plain timestamp and uuid as text: ask the server for
    each column's type (pg_typeof of a NULL row keeps the declared type)."""
    if not described.names:
        return described
    columns = ", ".join(f"pg_typeof(q.{quote_ident(n)})::text" for n in described.names)
    cur.execute(
        f"SELECT {columns} FROM (SELECT 1) AS one LEFT JOIN (SELECT * FROM ({sql}) AS s LIMIT 0) "
        "AS q ON true"
    )
    # pg_typeof spells no typmod: varchar(n) lengths are not known here
    types = cur.fetchone()
    return pa.schema(
        [f.with_type(_POSTGRES_TYPES.get(t, f.type)) for f, t in zip(described, types, strict=True)]
    )


class OdbcSession(SourceSession):
    def __init__(self, con, flavor):
        self.con, self.flavor = con, flavor
        self._cursors = []  # cursors whose streams are still being read

    def schema(self, sql: str) -> pa.Schema:
        cur = self.con.cursor()
        try:
            if self.flavor.dialect == "tsql":
                return _described_tsql(cur, sql)
            cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
            described = odbc.described_schema(cur.description)
            return _with_postgres_types(cur, sql, described)
        finally:
            cur.close()

    def fetch_small(self, sql: str) -> pa.Table:
        cur = self.con.cursor()
        try:
            cur.execute(sql)
            return odbc.rows_to_table(cur.fetchall(), cur.description)
        finally:
            cur.close()

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        schema = self.schema(sql)
        cur = self.con.cursor()
        self._cursors.append(cur)
        readable = seven_digits.readable_sql(sql, schema)
        cur.execute(readable)
        if readable == sql:
            batches = odbc.stream_cursor(cur, schema, batch_size)
        else:
            texts = odbc.stream_cursor(cur, seven_digits.text_schema(schema), batch_size)
            batches = (seven_digits.parsed_batch(b, schema, self.bad_rows) for b in texts)
        return pa.RecordBatchReader.from_batches(schema, batches)


class OdbcSource(Source):
    kind = "tsql"

    def __init__(self, conn: TsqlConnection, base_dir: str | None = None):
        self.conn = conn
        self.flavor = odbc.flavor_of(conn)
        self.dialect = self.flavor.dialect

    @contextmanager
    def session(self, spec: SourceSpec):
        con = odbc.connect(self.conn)
        try:
            statement = ISOLATION.get(self.flavor.name)
            if statement and self.conn.snapshot_reads:
                con.cursor().execute(statement).close()
            yield OdbcSession(con, self.flavor)
        finally:
            con.rollback()
            con.close()
