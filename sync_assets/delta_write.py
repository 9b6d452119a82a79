"""What the Delta target checks before it writes, so it never leaves a table that Fabric or
Spark cannot read, and never half-handles a table feature.

- Writing into an existing table: every writer feature must be one that delta-rs (1.6.6)
  maintains correctly, as tested in sync_assets_tests/test_delta_features.py — deletion
  vectors are respected by merges and predicate overwrites, column-mapped tables get
  physical names and field ids, CHECK constraints and generated columns are enforced. Others
  (row tracking, identity columns, clustering, …) fail before anything is written.
- Creating a table: the protocol delta-rs would give it (previewed on an empty scratch table)
  may only use reader features that Fabric Runtime 1.3 (Delta Lake 3.2) and current Databricks
  runtimes read. delta-rs 1.6.6 adds `variantType` when `delta.enableDeletionVectors` is set,
  and drops `columnMapping` from the protocol when both are set (the files would then hold
  physical names that Spark does not map): both are refused with a way out.
- Rows that break a CHECK constraint, invariant or generated column fail the write with the
  table named; delta-rs commits nothing then.
"""

from __future__ import annotations

import shutil
import tempfile

import pyarrow as pa

from sync_assets.delta_read import DeltaFeatureError, check_readable, reader_features

# writer features delta-rs maintains, each tested by writing into a table that has it
WRITES = frozenset(
    {
        "appendOnly",
        "invariants",
        "checkConstraints",
        "changeDataFeed",
        "generatedColumns",
        "columnMapping",
        "deletionVectors",
        "timestampNtz",
    }
)
# reader features of tables this target may create: what Delta Lake 3.2 (Fabric Runtime 1.3)
# reads; variantType needs Delta 4.0
SPARK_READS = frozenset({"columnMapping", "deletionVectors", "timestampNtz"})
# legacy protocol versions and the writer features they imply (PROTOCOL.md, "Table Features")
_LEGACY_WRITER = {
    2: {"appendOnly", "invariants"},
    3: {"checkConstraints"},
    4: {"changeDataFeed", "generatedColumns"},
    5: {"columnMapping"},
    6: {"identityColumns"},
}


class DeltaConstraintError(ValueError):
    """Rows break a CHECK constraint, invariant or generated column of the target table."""


def writer_features(table) -> set[str]:
    protocol = table.protocol()
    if protocol.min_writer_version >= 7:
        return set(protocol.writer_features or ())
    implied: set[str] = set()
    for version, features in _LEGACY_WRITER.items():
        if protocol.min_writer_version >= version:
            implied |= features
    if not _uses_identity(table):
        implied.discard("identityColumns")  # writer 6 only matters when a column uses it
    return implied


def _uses_identity(table) -> bool:
    return any("delta.identity.start" in f.metadata for f in table.schema().fields)


def check_writable(table, where: str) -> None:
    """Fail, before anything is written, on a table this target cannot write correctly."""
    check_readable(table, where)  # merges and counts read the table too
    unknown = sorted(writer_features(table) - WRITES)
    if unknown:
        raise DeltaFeatureError(
            f"Delta table {where} requires writer feature(s) {unknown}, which the Delta "
            f"target does not maintain (it writes tables with {sorted(WRITES)}); nothing "
            f"was written. Sync into a table without them, or write it from the engine "
            f"that owns the feature"
        )


# characters Spark refuses in Delta column names unless the table uses column mapping
_SPARK_INVALID = set(" ,;{}()\n\t=")


def check_spark_names(schema: pa.Schema, properties: dict[str, str], where: str) -> None:
    """Fail, before the table exists, on a column name Spark (Fabric) cannot read without
    column mapping; delta-rs, DuckDB and Polars read any name."""
    if properties.get("delta.columnMapping.mode", "none") != "none":
        return
    for name in schema.names:
        bad = sorted(set(name) & _SPARK_INVALID)
        if bad:
            raise DeltaFeatureError(
                f"Delta table {where}: column '{name}' has {''.join(bad)!r}, which Spark and "
                "Fabric do not allow in column names without column mapping; rename it in "
                "column_mappings, or set table_properties delta.columnMapping.mode: name "
                "(no column may then be a timestamp without time zone: delta-rs drops the "
                "feature); nothing was written"
            )


def check_creatable(schema: pa.Schema, properties: dict[str, str], where: str) -> None:
    """Fail, before the table exists, when delta-rs would create a protocol Spark can't read."""
    if not properties:
        return  # a plain table: reader version 1, or 3 with timestampNtz only
    from deltalake import DeltaTable, write_deltalake

    scratch = tempfile.mkdtemp(prefix="sync-delta-preview-")
    try:
        write_deltalake(scratch, schema.empty_table(), configuration=properties)
        features = reader_features(DeltaTable(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    unreadable = sorted(features - SPARK_READS)
    mapping = properties.get("delta.columnMapping.mode", "none") != "none"
    if unreadable or (mapping and "columnMapping" not in features):
        what = (
            f"reader feature(s) {unreadable}, which Fabric Runtime 1.3 (Delta Lake 3.2) cannot read"
            if unreadable
            else "column mapping set but missing from its protocol, so Spark would not map "
            "the physical column names"
        )
        raise DeltaFeatureError(
            f"Delta table {where}: with table_properties {sorted(properties)} delta-rs "
            f"would create the table with {what}; nothing was written. Create the table "
            f"in Fabric or Spark with these properties and sync into it (writes keep its "
            f"features), or leave the properties out"
        )


def constraint_error(exc: Exception, table, where: str) -> DeltaConstraintError | None:
    """A clear error for delta-rs's "rows failed validation check", else None."""
    if "failed validation check" not in str(exc):
        return None
    rules = [
        f"CHECK {k.removeprefix('delta.constraints.')}: {v}"
        for k, v in table.metadata().configuration.items()
        if k.startswith("delta.constraints.")
    ]
    rules += [
        f"generated column {f.name} = {f.metadata['delta.generationExpression']}"
        for f in table.schema().fields
        if "delta.generationExpression" in f.metadata
    ]
    rules += [
        f"invariant on {f.name}" for f in table.schema().fields if "delta.invariants" in f.metadata
    ]
    detail = str(exc).split("Preview of invalid data:")[0].split("External error:")[-1].strip()
    return DeltaConstraintError(
        f"Delta table {where}: {detail} Rows must satisfy the table's rules "
        f"({'; '.join(rules) or 'see the table definition'}); nothing was written"
    )
