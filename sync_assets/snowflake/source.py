"""Snowflake as a source: queries stream as Arrow batches (`fetch_arrow_batches`).

Column types come from `cursor.describe` before any row is read, so an empty result still
has its schema; each batch is cast to it. Snowflake statements each see the data committed
when they start; the read is bounded above by the probed watermark, so a row committed after
the probe is left for the next run rather than skipped.
"""

from __future__ import annotations

from contextlib import contextmanager

import pyarrow as pa

from sync_assets.config.models import SnowflakeConnection, SourceSpec
from sync_assets.snowflake.connection import Connection
from sync_assets.snowflake.types import arrow_type_of
from sync_assets.sources.base import Source, SourceSession
from sync_assets.types import MAX_LENGTH

# semi-structured columns come as JSON text: Arrow's json type, so they land as JSON / jsonb
_SEMI_STRUCTURED = ("VARIANT", "OBJECT", "ARRAY")
_DEFAULT_LENGTHS = (16_777_216, 134_217_728)  # VARCHAR without a length (old and new limit)


def described_schema(metadata) -> pa.Schema:
    """The Arrow schema of a query from `cursor.describe`; a VARCHAR(n) keeps its length."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    fields = []
    for m in metadata:
        name = FIELD_ID_TO_NAME[m.type_code]
        if name in _SEMI_STRUCTURED:
            fields.append(pa.field(m.name, pa.json_()))
            continue
        field = pa.field(m.name, arrow_type_of(name, m.precision, m.scale))
        if name == "TEXT" and m.internal_size and m.internal_size not in _DEFAULT_LENGTHS:
            field = field.with_metadata({MAX_LENGTH: str(m.internal_size)})
        fields.append(field)
    return pa.schema(fields)


class SnowflakeSession(SourceSession):
    def __init__(self, con: Connection):
        self.con = con
        self._cursors = []  # cursors whose streams are still being read

    def schema(self, sql: str) -> pa.Schema:
        cur = self.con.raw.cursor()
        try:
            return described_schema(cur.describe(sql))
        finally:
            cur.close()

    def fetch_small(self, sql: str) -> pa.Table:
        cur = self.con.raw.cursor()
        try:
            cur.execute(sql)
            # unquoted aliases come back upper-cased (N_ROWS, HI): the probe reads them lower-case
            names = [d.name.lower() for d in cur.description]
            rows = cur.fetchall()
            return pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})
        finally:
            cur.close()

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        schema = self.schema(sql)
        cur = self.con.raw.cursor()
        self._cursors.append(cur)
        cur.execute(sql)

        def batches():
            for table in cur.fetch_arrow_batches():
                yield from table.cast(schema).to_batches(max_chunksize=batch_size)

        return pa.RecordBatchReader.from_batches(schema, batches())


class SnowflakeSource(Source):
    dialect = "snowflake"
    kind = "snowflake"

    def __init__(self, conn: SnowflakeConnection, base_dir: str | None = None):
        self.conn = conn

    @contextmanager
    def session(self, spec: SourceSpec):
        con = Connection(self.conn, autocommit=True)
        try:
            yield SnowflakeSession(con)
        finally:
            con.close()
