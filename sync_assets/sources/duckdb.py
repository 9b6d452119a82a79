"""DuckDB files as sources, and the DuckDB session that Parquet and Delta sources reuse."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
import pyarrow as pa

from sync_assets import duck
from sync_assets.config.models import DuckDBConnection, SourceSpec
from sync_assets.paths import resolve
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sql.literals import quote_ident

# DuckDB types whose Arrow export loses or hides something, and how they are read instead:
# the default export passes UUID and JSON as plain strings and TIME WITH TIME ZONE without
# its offset (the lossless export turns every BOOLEAN into an extension type instead)
_READ_AS = {
    "UUID": "unhex(replace(CAST({c} AS VARCHAR), '-', ''))",  # 16 bytes -> Arrow uuid
    "TIME WITH TIME ZONE": "CAST({c} AS VARCHAR)",
    "BIT": "CAST({c} AS VARCHAR)",
    "BIGNUM": "CAST({c} AS VARCHAR)",
    "VARINT": "CAST({c} AS VARCHAR)",
}
_EXTENSION = {"UUID": pa.uuid(), "JSON": pa.json_()}


class DuckDBSession(SourceSession):
    """Queries on one DuckDB connection (a file opened read-only, or in memory). UUID and
    JSON columns arrive as Arrow's uuid / json extension types, so they land as the target's
    UUID / JSON types."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con  # from duck.connect: UTC, so windows and hashes ignore the host's zone

    def _readable(self, sql: str) -> tuple[str, dict[str, pa.DataType]]:
        """The query with the casts above, and the columns to give an extension type."""
        relation = self.con.sql(f"SELECT * FROM ({sql}) LIMIT 0")
        kinds = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
        casts = [
            f"{_READ_AS[k].format(c=quote_ident(n))} AS {quote_ident(n)}"
            for n, k in kinds.items()
            if k in _READ_AS
        ]
        readable = f"SELECT * REPLACE ({', '.join(casts)}) FROM ({sql}) AS q" if casts else sql
        return readable, {n: _EXTENSION[k] for n, k in kinds.items() if k in _EXTENSION}

    def _reader(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        readable, extensions = self._readable(sql)
        reader = self.con.sql(readable).to_arrow_reader(batch_size)
        if not extensions:
            return reader
        schema = pa.schema(
            [f.with_type(extensions[f.name]) if f.name in extensions else f for f in reader.schema]
        )
        batches = (_with_extensions(b, schema) for b in reader)
        return pa.RecordBatchReader.from_batches(schema, batches)

    def schema(self, sql: str) -> pa.Schema:
        return self._reader(f"SELECT * FROM ({sql}) LIMIT 0", 1).schema

    def fetch_small(self, sql: str) -> pa.Table:
        return self._reader(sql, 65_536).read_all()

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        return self._reader(sql, batch_size)


def _with_extensions(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if isinstance(field.type, pa.BaseExtensionType) and column.type != field.type:
            storage = column.cast(field.type.storage_type)  # binary -> fixed_size_binary[16]
            column = pa.ExtensionArray.from_storage(field.type, storage)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class DuckDBSource(Source):
    dialect = "duckdb"
    kind = "duckdb"

    def __init__(self, conn: DuckDBConnection, base_dir: str):
        self.conn = conn
        self.path = resolve(base_dir, conn.path)

    @contextmanager
    def session(self, spec: SourceSpec):
        # read_only lets several runs read the same file at once
        con = duck.connect(self.path, read_only=True)
        try:
            session = DuckDBSession(con)
            yield session
        finally:
            con.close()
