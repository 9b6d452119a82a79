"""Reading Delta tables whatever table features the engine that wrote them turned on.

Spark engines (Fabric, Databricks, Synapse) commonly write tables with deletion vectors and
column mapping. deltalake's pyarrow dataset refuses both, so such tables are read through
deltalake's kernel scan (`DeltaTable.scan`), which drops the rows deletion vectors remove and
maps physical column names back to logical ones. Tables without those features keep the
pyarrow dataset, which DuckDB scans with projection and filter pushdown.

Measured with `benchmarks/delta_readers.py` (3M rows in 6 files, 1% deleted by DVs, DuckDB
querying; medians of 3, seconds; full read / count+max probe / filtered read of the newest
1.5%): pyarrow dataset (on the same files without DVs) 0.42 / 0.07 / 0.06; kernel scan of all
columns 0.39 / 0.31 / 0.35; kernel scan of the query's columns (what the source registers,
see `query_columns`) 0.40 / 0.11 / 0.33; polars `scan_delta` 0.26 / 0.06 / 0.18. polars is
faster on filtered reads of DV tables but refuses column mapping (the common Fabric case) and
reads cloud files through its own object store, so the kernel scan is the one reader for
feature tables; the dataset stays for plain tables, where its filter pushdown keeps
incremental probes and reads cheap. Predicates are not pushed into the kernel (see
`DeltaSession`), which is what the filtered-read gap is.
"""

from __future__ import annotations

import pyarrow as pa

# what deltalake's pyarrow dataset reads (deltalake.table.SUPPORTED_READER_FEATURES)
DATASET_READS = frozenset({"timestampNtz", "variantType", "variantType-preview"})
# what the kernel scan reads: the dataset's features plus those tested here on tables built to
# the protocol (sync_assets_tests/spark_delta.py)
KERNEL_READS = DATASET_READS | {"deletionVectors", "columnMapping"}


class DeltaFeatureError(RuntimeError):
    """The table uses a Delta feature that no reader (or writer) here supports."""


def open_table(location: str, storage_options=None):
    """The DeltaTable at `location`; a table whose protocol the kernel refuses to load (an
    unknown reader feature) is a DeltaFeatureError naming the table and the feature."""
    import re

    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        return DeltaTable(location, storage_options=storage_options)
    except TableNotFoundError:
        raise
    except DeltaError as exc:
        unsupported = re.search(r"Feature '([^']+)' is not supported", str(exc))
        if not unsupported:
            raise
        raise DeltaFeatureError(
            f"Delta table {location} requires table feature '{unsupported.group(1)}', which "
            f"no reader here supports (readable: {sorted(KERNEL_READS)}); nothing was read"
        ) from None


def reader_features(table) -> set[str]:
    """The table's reader features, with the one that reader version 2 implies."""
    protocol = table.protocol()
    features = set(protocol.reader_features or ())
    if protocol.min_reader_version == 2:
        features.add("columnMapping")  # reader version 2 means column mapping (PROTOCOL.md)
    return features


def column_mapped(table) -> bool:
    """Whether the table stores its columns under physical names (column mapping)."""
    return "columnMapping" in reader_features(table)


def needs_kernel(table) -> bool:
    return bool(reader_features(table) - DATASET_READS)


def check_readable(table, where: str) -> None:
    protocol = table.protocol()
    unknown = sorted(reader_features(table) - KERNEL_READS)
    if protocol.min_reader_version > 3 or unknown:
        what = (
            f"reader feature(s) {unknown}"
            if unknown
            else (f"reader version {protocol.min_reader_version}")
        )
        raise DeltaFeatureError(
            f"Delta table {where} requires {what}, which no reader here supports "
            f"(readable: {sorted(KERNEL_READS)}); nothing was read"
        )


class KernelScan:
    """One table version as an Arrow stream that DuckDB can scan any number of times: each
    scan is a fresh kernel scan of the same snapshot (the DeltaTable is pinned to it)."""

    def __init__(self, table, columns: list[str] | None = None):
        self.table, self.columns = table, columns

    def __arrow_c_stream__(self, requested_schema=None):
        return self.table.scan(columns=self.columns).__arrow_c_stream__(requested_schema)

    def reader(self) -> pa.RecordBatchReader:
        """The rows as Arrow batches of the table's own schema: the kernel returns strings and
        binaries as views, cast here so a column's type never depends on the reader."""
        raw = pa.RecordBatchReader.from_stream(self.table.scan(columns=self.columns))
        schema = pa.schema(self.table.schema().to_arrow())
        if self.columns:
            schema = pa.schema([schema.field(c) for c in self.columns])
        if raw.schema.equals(schema):
            return raw
        return pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in raw))


def query_columns(sql: str, columns: list[str], view: str = "__source") -> list[str] | None:
    """The columns of `view` a DuckDB query reads, found by sqlglot's optimizer (stars
    expanded against the table's columns, then projections pushed down, so a `*` that an
    outer query does not use costs nothing); None (all columns) when the query cannot be
    analysed. A query that reads no column (count(*)) gets the first one."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify

    schema = {view: {c: "VARCHAR" for c in columns}}
    try:
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=schema, dialect="duckdb")
        tree = pushdown_projections(tree)
    except Exception:  # noqa: BLE001 - any syntax sqlglot does not follow: read everything
        return None
    named = {c.name.lower() for c in tree.find_all(exp.Column)}
    return [c for c in columns if c.lower() in named] or columns[:1]


def scannable(table, where: str):
    """What to register in DuckDB for the table's rows: its pyarrow dataset, or a KernelScan
    when it uses deletion vectors or column mapping."""
    check_readable(table, where)
    return KernelScan(table) if needs_kernel(table) else table.to_pyarrow_dataset()


def reader(table, where: str, columns: list[str] | None = None) -> pa.RecordBatchReader:
    """The table's rows as one Arrow stream (optionally only some columns)."""
    check_readable(table, where)
    if needs_kernel(table):
        return KernelScan(table, columns).reader()
    return table.to_pyarrow_dataset().scanner(columns=columns).to_reader()


def count_rows(table, where: str) -> int:
    """The table's logical row count. deltalake's `count()` sums the files' numRecords, which
    with deletion vectors still includes the deleted rows (the protocol keeps numRecords
    physical), so such tables are counted by a one-column kernel scan."""
    if "deletionVectors" not in reader_features(table):
        return int(table.count())
    check_readable(table, where)
    first = table.schema().fields[0].name
    return sum(b.num_rows for b in KernelScan(table, [first]).reader())
