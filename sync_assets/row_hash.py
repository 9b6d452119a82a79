"""One canonical text per value and per row, and the row hash built on it: what `sync_type: hash`
stores with each target row and what the checksum asset check sums.

The encoding is SQL over typed columns, in DuckDB's dialect (which runs the same inside a
DuckDB source and in the sync process over any Arrow stream) and in PostgreSQL's for the
types whose text it can spell identically (tests compare both): numbers without trailing
zeros, instants as microseconds since the epoch, UTC (independent of the
session's time zone), bytes as hex, nested values as JSON, NULL as a marker. Each value is
prefixed with its length, so the row text is unambiguous: no two different rows concatenate
to the same text, whatever separators their strings contain.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from sync_assets.sql.literals import quote_ident

SEPARATOR = 31  # chr(31), the ASCII unit separator, between values
NULL = "\\N"
# bumped when the encoding changes: a stored hash of another version is compared again
ENCODING = "v1"
# engines that compute the encoding in SQL; elsewhere DuckDB computes it over the stream
DIALECTS = ("duckdb", "postgres")


def canonical(
    column: str, arrow_type: pa.DataType, dialect: str = "duckdb", *, nested: bool = True
) -> str | None:
    """The text of one value in `dialect`'s SQL, the same for the same value whatever engine
    or type holds it; None when `dialect` has no rendering for the type (DuckDB has one for
    every type: the caller then hashes in the sync process)."""
    col = quote_ident(column)
    pg = dialect == "postgres"
    text = f"CAST({col} AS {'text' if pg else 'VARCHAR'})"
    if pa.types.is_decimal(arrow_type):
        has_point = f"position('.' in {text}) > 0" if pg else f"contains({text}, '.')"
        return f"CASE WHEN {has_point} THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END"
    if pa.types.is_timestamp(arrow_type):
        # microseconds since 1970-01-01 UTC (naive timestamps read as UTC wall time): no
        # time zone setting enters, and it is far cheaper than formatting a date
        if pg:
            return f"CAST(CAST(extract(epoch FROM {col}) * 1000000 AS bigint) AS text)"
        return f"CAST(epoch_us({col}) AS VARCHAR)"
    if pa.types.is_date(arrow_type):
        return f"to_char({col}, 'YYYY-MM-DD')" if pg else text
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        # PostgreSQL's bytea is binary in Arrow, but so is e.g. a uuid: hash those here
        return None if pg else f"hex({col})"
    if pa.types.is_fixed_size_binary(arrow_type):
        return None if pg else f"hex({col})"
    if pa.types.is_nested(arrow_type):
        if not nested:
            raise ValueError(f"column '{column}' is {arrow_type}: this takes scalar columns")
        return None if pg else f"CAST(to_json({col}) AS VARCHAR)"
    if pg and not (
        pa.types.is_integer(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
    ):
        return None  # floats, times, intervals…: PostgreSQL's text forms differ from DuckDB's
    return text


def renders(columns: Sequence[str], schema: pa.Schema, dialect: str) -> bool:
    """Whether `dialect` computes the hash of these columns in SQL."""
    return dialect in DIALECTS and all(
        canonical(c, schema.field(c).type, dialect) is not None for c in columns
    )


def row_text(
    columns: Sequence[str], schema: pa.Schema, dialect: str = "duckdb", *, nested: bool = True
) -> str:
    """The canonical text of a row's `columns` (length-prefixed values, NULL marked)."""
    parts = []
    as_text = "text" if dialect == "postgres" else "VARCHAR"
    for c in columns:
        text = canonical(c, schema.field(c).type, dialect, nested=nested)
        if text is None:
            raise ValueError(f"column '{c}' ({schema.field(c).type}) has no {dialect} encoding")
        parts.append(
            f"CASE WHEN {quote_ident(c)} IS NULL THEN '{NULL}' "
            f"ELSE CAST(length({text}) AS {as_text}) || ':' || {text} END"
        )
    return f"concat_ws(chr({SEPARATOR}), {', '.join(parts)})" if parts else "''"


def row_hash(columns: Sequence[str], schema: pa.Schema, dialect: str = "duckdb") -> str:
    """The row hash: md5 (32 lower-case hex digits) of the row's canonical text."""
    return f"md5({row_text(columns, schema, dialect)})"


def native_hash(columns: Sequence[str], dialect: str) -> str | None:
    """The engine's own hash of the typed values, as text (None where there is none): no
    text is built, so it costs a fraction of md5, but it differs between engines."""
    cols = ", ".join(quote_ident(c) for c in columns)
    if dialect == "postgres":
        return f"CAST(hash_record_extended(ROW({cols}), 0) AS text)"
    if dialect == "duckdb":
        return f"CAST(hash({cols}) AS VARCHAR)"
    return None


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
