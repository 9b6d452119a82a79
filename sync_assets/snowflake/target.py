"""Snowflake tables as a target: the one SQL writer with Snowflake's bulk path.

A write streams the batches into Parquet files (one at a time, on local disk), PUTs them to a
temporary stage and loads the staging table with one COPY INTO … MATCH_BY_COLUMN_NAME; then
one MERGE (or delete + insert with `use_merge: false`), INSERT … SELECT or slice replace, and
the state upsert run in one transaction. DDL commits implicitly in Snowflake, so the DDL, PUT
and COPY run before BEGIN; the target table changes only at COMMIT.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sync_assets.bad_rows import Limits
from sync_assets.config.models import SnowflakeConnection
from sync_assets.snowflake import types
from sync_assets.snowflake.connection import Connection
from sync_assets.snowflake.flavor import flavor_for
from sync_assets.snowflake.statements import STAGE, catalog_sql, copy_into_sql, put_sql
from sync_assets.targets.odbc import OdbcTarget
from sync_assets.types import field_max_length, holds_json

ROWS_PER_FILE = 500_000


class SnowflakeTarget(OdbcTarget):
    kind = "snowflake"

    conn: SnowflakeConnection

    @staticmethod
    def flavor_of(conn):
        return flavor_for(conn)

    def staged_casts(self, s) -> dict[str, str] | None:
        """VARIANT columns are staged as their JSON text and parsed when applied."""
        types = s.column_types(self.schema, self.table)
        return {c: t for c, t in types.items() if t.upper() == "VARIANT"} or None

    def value_limits(self) -> Limits:
        # Snowflake's dates and timestamps are meant for the years 1-9999 (the connector reads
        # them back as Python values, which stop there); FLOAT holds NaN and infinity
        return Limits("Snowflake", years=(1, 9999), nanoseconds=False)

    @property
    def uri(self) -> str:
        return f"snowflake://{self.conn.account}/{self.conn.database}#{self.schema}.{self.table}"

    def connect(self, autocommit: bool):
        return Connection(self.conn, autocommit)

    def storage(self, field: pa.Field) -> tuple[str, pa.DataType]:
        if holds_json(field):  # staged as its JSON text, parsed into VARIANT when applied
            return "VARIANT", pa.string()
        return types.column_type(field.type, field_max_length(field))

    def catalog_sql(self) -> str:
        return catalog_sql()

    def arrow_type(self, row) -> pa.DataType:
        return types.arrow_type_of(row[1], row[2], row[3])

    def stream_rows(self, cur, schema: pa.Schema):
        for table in cur.raw.fetch_arrow_batches():
            yield from table.cast(schema).to_batches()

    def bulk_load(self, cur, stage: str, reader: pa.RecordBatchReader) -> None:
        """Parquet parts -> PUT -> one COPY INTO; local files are removed as soon as they are sent."""
        cur.execute(f"CREATE TEMPORARY STAGE IF NOT EXISTS {STAGE}")
        prefix = f"{self.object_id}/{uuid.uuid4().hex}"
        folder = Path(tempfile.mkdtemp(prefix="sync-stage-"))
        try:
            for path in _parquet_parts(reader, folder):
                cur.execute(put_sql(path, prefix))
                path.unlink()
            cur.execute(copy_into_sql(stage, prefix))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _parquet_parts(reader: pa.RecordBatchReader, folder: Path):
    """Write the stream as Parquet files of up to ROWS_PER_FILE rows, yielding each when done."""
    part, writer, rows, path = 0, None, 0, None
    for batch in reader:
        if writer is None:
            path = folder / f"part-{part:05d}.parquet"
            writer, rows = pq.ParquetWriter(path, reader.schema), 0
        writer.write_batch(batch)
        rows += batch.num_rows
        if rows >= ROWS_PER_FILE:
            writer.close()
            yield path
            part, writer = part + 1, None
    if writer is not None:
        writer.close()
        yield path
