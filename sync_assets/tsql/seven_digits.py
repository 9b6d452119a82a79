"""DATETIME2(7), TIME(7) and DATETIMEOFFSET(7): the seventh fractional digit (100 ns).

pyodbc reads these types in microseconds, so a value's seventh digit was dropped without a
word, and Arrow's nanosecond timestamps cover only 1677-2262 while DATETIME2 covers
0001-9999. Such columns are therefore read as text (`readable_sql`), and each batch is
parsed back to microseconds (`parsed_batch`): a value whose seventh digit is not 0 cannot be
carried exactly and is refused, or quarantined, naming the column, the value and the row.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.bad_rows import Problem, message
from sync_assets.sql.flavors import SQLSERVER

# Field metadata on the columns read this way
SEVEN_DIGITS = b"sync_assets.seven_digits"

_AS_TEXT = {
    "datetime2": "CONVERT(VARCHAR(27), {c}, 121)",  # yyyy-mm-dd hh:mi:ss.fffffff
    "time": "CONVERT(VARCHAR(16), {c})",  # hh:mi:ss.fffffff
    # the instant as its UTC wall time, which the column's Arrow type (tz=UTC) means
    "datetimeoffset": "CONVERT(VARCHAR(27), CAST(SWITCHOFFSET({c}, '+00:00') AS DATETIME2(7)), 121)",
}


_SIX = {"datetime2": "DATETIME2(6)", "time": "TIME(6)", "datetimeoffset": "DATETIMEOFFSET(6)"}


class SevenDigitError(ValueError):
    """A value with a 100-ns digit, which the sync carries in microseconds."""


def flagged(base: str, scale: int | None) -> bool:
    return base in _AS_TEXT and scale == 7


def readable_sql(sql: str, schema: pa.Schema) -> str:
    """`sql` with the seven-digit columns converted to text (None: nothing to convert)."""
    marked = {f.name: f.metadata[SEVEN_DIGITS].decode() for f in schema if _marked(f)}
    if not marked:
        return sql
    columns = ", ".join(
        f"{_AS_TEXT[marked[n]].format(c=_quote(n))} AS {_quote(n)}" if n in marked else _quote(n)
        for n in schema.names
    )
    return f"SELECT {columns} FROM ({sql}) AS q"


def text_schema(schema: pa.Schema) -> pa.Schema:
    """The schema the text-read rows arrive in."""
    return pa.schema([f.with_type(pa.string()) if _marked(f) else f for f in schema])


def parsed_batch(batch: pa.RecordBatch, schema: pa.Schema, bad_rows=None) -> pa.RecordBatch:
    """A text-read batch in `schema`; values with a 100-ns digit refused or quarantined."""
    problems = []
    for field, column in zip(schema, batch.columns, strict=True):
        if _marked(field):
            seventh = pc.utf8_slice_codeunits(column, _seventh(field), _seventh(field) + 1)
            mask = pc.fill_null(pc.not_equal(seventh, "0"), False)
            if mask.true_count:
                problems.append(
                    Problem(
                        field.name,
                        mask,
                        lambda r, c=column: c[r].as_py(),
                        "the sync cannot carry: its seventh (100 ns) digit is not 0, and "
                        "values are carried in microseconds",
                        f"cast it in column_mappings (CAST({_quote(field.name)} AS "
                        f"{_SIX[field.metadata[SEVEN_DIGITS].decode()]}))",
                    )
                )
    if problems:
        if bad_rows is None:
            raise SevenDigitError(message(batch, problems[0]))
        batch = bad_rows.handle(batch, problems, SevenDigitError)
    columns = [
        _parsed(column, field) if _marked(field) else column
        for field, column in zip(schema, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _quote(name: str) -> str:
    return SQLSERVER.quote(name)


def _marked(field: pa.Field) -> bool:
    return SEVEN_DIGITS in (field.metadata or {})


def _seventh(field: pa.Field) -> int:
    """Position of the seventh fractional digit in the text form."""
    return 15 if pa.types.is_time(field.type) else 26


def _parsed(column: pa.Array, field: pa.Field) -> pa.Array:
    micros = pc.utf8_slice_codeunits(column, 0, _seventh(field))
    if pa.types.is_time(field.type):
        values = [None if v is None else dt.time.fromisoformat(v) for v in micros.to_pylist()]
        return pa.array(values, field.type)
    return pc.cast(pc.cast(micros, pa.timestamp("us")), field.type)
