"""DuckDB files as sources, and the DuckDB session that Parquet and Delta sources reuse."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
import pyarrow as pa

from sync_assets import duck
from sync_assets.config.models import DuckDBConnection, SourceSpec
from sync_assets.paths import resolve
from sync_assets.sources.base import Source, SourceSession


class DuckDBSession(SourceSession):
    """Queries on one DuckDB connection (a file opened read-only, or in memory)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con  # from duck.connect: UTC, so windows and hashes ignore the host's zone

    def schema(self, sql: str) -> pa.Schema:
        return self.con.sql(f"SELECT * FROM ({sql}) LIMIT 0").to_arrow_table().schema

    def fetch_small(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        return self.con.sql(sql).to_arrow_reader(batch_size)


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
