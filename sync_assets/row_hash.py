"""One canonical text per value and per row, and the row hash built on it: what `sync_type: hash`
stores with each target row and what the checksum asset check sums.

The encoding is DuckDB SQL over typed columns, so it runs the same inside a DuckDB source and
in the sync process over any Arrow stream (DuckDB reads Arrow types as its own): numbers
without trailing zeros, instants as UTC wall time to the microsecond (independent of the
session's time zone), bytes as hex, nested values as JSON, NULL as a marker. Each value is
prefixed with its length, so the row text is unambiguous: no two different rows concatenate
to the same text, whatever separators their strings contain.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from sync_assets.sql.literals import quote_ident

SEPARATOR = "\x1f"
NULL = "\\N"
# bumped when the encoding changes: a stored hash of another version is compared again
ENCODING = "v1"


def canonical(column: str, arrow_type: pa.DataType, *, nested: bool = True) -> str:
    """DuckDB text of one value, the same for the same value whatever type holds it."""
    col = quote_ident(column)
    if pa.types.is_decimal(arrow_type):
        text = f"CAST({col} AS VARCHAR)"
        return (
            f"CASE WHEN contains({text}, '.') THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
        )
    if pa.types.is_timestamp(arrow_type):
        wall = f"timezone('UTC', {col})" if arrow_type.tz else col
        return f"strftime({wall}, '%Y-%m-%dT%H:%M:%S.%f')"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return f"hex({col})"
    if pa.types.is_fixed_size_binary(arrow_type):
        return f"hex({col})"
    if pa.types.is_nested(arrow_type):
        if not nested:
            raise ValueError(f"column '{column}' is {arrow_type}: this takes scalar columns")
        return f"CAST(to_json({col}) AS VARCHAR)"
    return f"CAST({col} AS VARCHAR)"


def row_text(columns: Sequence[str], schema: pa.Schema, *, nested: bool = True) -> str:
    """The canonical text of a row's `columns` (length-prefixed values, NULL marked)."""
    parts = []
    for c in columns:
        text = canonical(c, schema.field(c).type, nested=nested)
        parts.append(
            f"CASE WHEN {quote_ident(c)} IS NULL THEN '{NULL}' "
            f"ELSE CAST(length({text}) AS VARCHAR) || ':' || {text} END"
        )
    return f"concat_ws('{SEPARATOR}', {', '.join(parts)})" if parts else "''"


def row_hash(columns: Sequence[str], schema: pa.Schema) -> str:
    """The row hash: md5 (32 lower-case hex digits) of the row's canonical text."""
    return f"md5({row_text(columns, schema)})"


def hashed_columns(
    schema: pa.Schema,
    keys: Sequence[str],
    include: Sequence[str] | None,
    exclude: Sequence[str],
    skip: Sequence[str] = (),
) -> list[str]:
    """The columns a row hash covers: `include` as given, else every column but the keys,
    `exclude` and the sync's own `skip` columns."""
    names = [n for n in schema.names if n not in skip]
    missing = [c for c in list(include or []) + list(exclude) if c not in names]
    if missing:
        raise ValueError(
            f"field 'hash_columns' / 'exclude_columns': {missing} are not columns of the "
            f"synced rows (they have {names})"
        )
    if include:
        return list(include)
    return [n for n in names if n not in keys and n not in exclude]
