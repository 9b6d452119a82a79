"""Parquet and Delta tables as sources, queried through an in-memory DuckDB.

DuckDB scans the files (Parquet) or the Delta table lazily, so the same SQL builders serve
every file source. Delta tables are read through `delta_read.scannable`: deltalake's Arrow
dataset (projection and filters pushed down), or its kernel scan for tables with deletion
vectors or column mapping.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from sync_assets import duck
from sync_assets.config.models import DeltaConnection, ParquetConnection, SourceSpec
from sync_assets.delta_read import KernelScan, needs_kernel, open_table, query_columns, scannable
from sync_assets.lakehouse import delta_location
from sync_assets.parquet_table import ParquetTable
from sync_assets.paths import join, resolve
from sync_assets.sources.base import Source
from sync_assets.sources.duckdb import DuckDBSession
from sync_assets.sql.literals import quote_string

VIEW = "__source"


class ParquetSource(Source):
    dialect = "duckdb"
    kind = "parquet"

    def __init__(self, conn: ParquetConnection, base_dir: str):
        self.root = resolve(base_dir, conn.root)

    def relation(self, spec: SourceSpec) -> str:
        return VIEW

    def files(self, spec: SourceSpec) -> list[str]:
        location = join(self.root, spec.schema_, spec.object)
        table = ParquetTable(location)
        if table.exists():
            return table.current_files()
        if os.path.isfile(location):
            return [location]
        return [join(location, "**", "*.parquet")]

    @contextmanager
    def session(self, spec: SourceSpec):
        con = duck.connect()
        try:
            files = ", ".join(quote_string(f) for f in self.files(spec))
            con.execute(
                f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet([{files}], union_by_name = true)"
            )
            yield DuckDBSession(con)
        finally:
            con.close()


class DeltaSession(DuckDBSession):
    """A DuckDB session over one version of a Delta table, which it keeps (for the CDF) with
    the storage options it was opened with.

    A table read through the kernel scan gets no pushdown from DuckDB, so before each query
    the view is re-registered over a scan of only the columns the query names (3M rows:
    a count/max probe 0.25 -> 0.08 s). Predicates are not pushed: the kernel's SQL is
    DataFusion's, and a literal it reads differently could silently drop rows."""

    def __init__(self, con, table, storage_options=None, kernel: bool = False):
        super().__init__(con)
        self.table, self.storage_options, self.kernel = table, storage_options, kernel
        self.columns = [f.name for f in table.schema().fields]

    def _narrow(self, sql: str) -> None:
        if self.kernel:
            self.con.register(VIEW, KernelScan(self.table, query_columns(sql, self.columns)))

    def schema(self, sql: str):
        self._narrow(sql)
        return super().schema(sql)

    def fetch_small(self, sql: str):
        self._narrow(sql)
        return super().fetch_small(sql)

    def stream(self, sql: str, batch_size: int):
        self._narrow(sql)
        return super().stream(sql, batch_size)


class DeltaSource(Source):
    dialect = "duckdb"
    kind = "deltalake"

    def __init__(self, conn: DeltaConnection, base_dir: str):
        self.conn, self.base_dir = conn, base_dir

    def relation(self, spec: SourceSpec) -> str:
        return VIEW

    @contextmanager
    def session(self, spec: SourceSpec):
        location, options = delta_location(self.conn, self.base_dir, spec.schema_, spec.object)
        table = open_table(location, options)
        con = duck.connect()
        try:
            # one table version for the whole session: probe and read agree
            con.register(VIEW, scannable(table, location))
            yield DeltaSession(con, table, options, kernel=needs_kernel(table))
        finally:
            con.close()
