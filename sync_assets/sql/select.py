"""Side-effect-free builders for the SQL a sync runs against its source.

A source query is `SELECT <projection> FROM <relation> WHERE <filter> AND <window> AND
<watermark bounds>`; the probe wraps the same projection and predicates to get the row count,
the high watermark and a content fingerprint in one pass inside the source engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from sync_assets.sql.literals import literal, quote_ident


@dataclass(frozen=True)
class Bounds:
    """A half-open or closed range on one column: lo < col <= hi, or lo <= col < hi."""

    column: str
    arrow_type: pa.DataType
    lo: object = None
    hi: object = None
    # window: lo <= col < hi (partitions). watermark: lo < col <= hi (increments).
    kind: str = "watermark"
    include_nulls: bool = False

    def predicate(self, dialect: str) -> str | None:
        col = quote_ident(self.column)
        parts = []
        lo_op, hi_op = (">=", "<") if self.kind == "window" else (">", "<=")
        if self.lo is not None:
            parts.append(f"{col} {lo_op} {literal(self.lo, self.arrow_type, dialect)}")
        if self.hi is not None:
            parts.append(f"{col} {hi_op} {literal(self.hi, self.arrow_type, dialect)}")
        if not parts:
            return None
        text = " AND ".join(parts)
        return f"({text} OR {col} IS NULL)" if self.include_nulls else text


def window_bounds(column, arrow_type, start: dt.datetime, end: dt.datetime, fmt: str | None):
    """Window bounds for a partition column; string columns compare formatted text, integer
    ranges compare integers."""
    if isinstance(start, int):
        if not pa.types.is_integer(arrow_type):
            raise TypeError(
                f"partition column '{column}' has type {arrow_type}; integer-range partitions "
                "(step) need an integer column"
            )
        return Bounds(column, arrow_type, start, end, kind="window")
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        fmt = fmt or "%Y-%m-%d"
        return Bounds(column, arrow_type, start.strftime(fmt), end.strftime(fmt), kind="window")
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        # A naive column holds wall-clock time in the partition's time zone.
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    elif pa.types.is_date(arrow_type):
        start, end = start.date(), end.date()
    elif not pa.types.is_timestamp(arrow_type):
        raise TypeError(
            f"partition column '{column}' has type {arrow_type}; use a date, timestamp or "
            "string column"
        )
    return Bounds(column, arrow_type, start, end, kind="window")


def projection(column_mappings: dict[str, str] | None) -> str:
    """`expr AS "target"` for each mapping, or * when all columns go as they are."""
    if column_mappings is None:
        return "*"
    return ", ".join(f"{expr} AS {quote_ident(target)}" for expr, target in column_mappings.items())


def where_clause(filter_condition, bounds: list[Bounds], dialect: str, extra=()) -> str:
    parts = [f"({filter_condition})"] if filter_condition else []
    parts += [p for p in (b.predicate(dialect) for b in bounds) if p]
    parts += list(extra)
    return " WHERE " + " AND ".join(parts) if parts else ""


def select_sql(relation, column_mappings, filter_condition, bounds, dialect, extra=()) -> str:
    """The query whose rows are synced; `extra` holds further ready-made predicates."""
    where = where_clause(filter_condition, bounds, dialect, extra)
    return f"SELECT {projection(column_mappings)} FROM {relation}{where}"


def fingerprint_expr(dialect: str) -> str:
    """An order-independent hash of all rows of the subquery aliased `q`."""
    if dialect == "postgres":
        return "sum(hashtextextended(q::text, 0)::numeric)::text"
    if dialect == "snowflake":
        return "TO_VARCHAR(HASH_AGG(*))"
    if dialect == "tsql":
        # 32-bit row checksums summed as BIGINT: cheap, order-independent; a changed row
        # escapes only on a checksum collision, and the row count is compared as well
        return "CAST(SUM(CAST(BINARY_CHECKSUM(*) AS BIGINT)) AS VARCHAR(40))"
    return "sum(hash(q)::HUGEINT)::VARCHAR"


def probe_sql(
    select: str, sync_column: str | None, dialect: str, *, fingerprint: bool, indexed=False
) -> str:
    """Row count, max(sync_column), the rows where it is NULL, and (optionally) a content
    fingerprint, in one scan.

    `indexed` (the sync column leads an index; no count or fingerprint wanted): max() and
    the NULL count as two subqueries over the flattened select, which the engine answers
    from the index without reading the table, so a run's probe costs what its change costs.
    """
    # the watermark column may not be carried to the target, so select it beside the row
    wm = f"SELECT {quote_ident(sync_column)} AS __sync_wm, " if sync_column else "SELECT "
    inner = select.replace("SELECT ", wm, 1)
    if indexed and sync_column and not fingerprint:
        return (
            f"SELECT (SELECT max(q.__sync_wm) FROM ({inner}) q) AS hi, "
            f"(SELECT count(*) FROM ({inner}) q WHERE q.__sync_wm IS NULL) AS n_null"
        )
    cols = ["COUNT_BIG(*) AS n_rows" if dialect == "tsql" else "count(*) AS n_rows"]
    if fingerprint:
        cols.append(f"{fingerprint_expr(dialect)} AS fingerprint")
    if sync_column:
        cols.append("max(q.__sync_wm) AS hi")
        # rows whose sync column is NULL have no place in the watermark order: counted so a
        # run can say what it did with them
        cols.append("SUM(CASE WHEN q.__sync_wm IS NULL THEN 1 ELSE 0 END) AS n_null")
    return f"SELECT {', '.join(cols)} FROM ({inner}) q"


def keys_in(keys, types, rows: pa.Table, dialect: str) -> str | None:
    """Predicate "the row's key is one of `rows`" over output columns named `keys` (of Arrow
    `types`): `k IN (…)` for one key; for compound keys a row-value IN over VALUES (PostgreSQL,
    DuckDB: one hashed semi-join) or an OR of per-column equalities, never a concatenation.
    None when a key type has no literal form (the caller filters itself)."""
    if rows.num_rows == 0:
        return "1 = 0"
    try:
        values = [
            [literal(v, t, dialect) for v in rows.column(k).to_pylist()]
            for k, t in zip(keys, types, strict=True)
        ]
    except TypeError:
        return None
    cols = [quote_ident(k) for k in keys]
    if len(keys) == 1:
        return f"{cols[0]} IN ({', '.join(values[0])})"
    if dialect in ("postgres", "duckdb"):  # row values: one hashed semi-join, not an OR chain
        rows_sql = ", ".join("(" + ", ".join(row) + ")" for row in zip(*values, strict=True))
        return f"({', '.join(cols)}) IN (VALUES {rows_sql})"
    tuples = (
        "(" + " AND ".join(f"{c} = {v}" for c, v in zip(cols, row, strict=True)) + ")"
        for row in zip(*values, strict=True)
    )
    return "(" + " OR ".join(tuples) + ")"
