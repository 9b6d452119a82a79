"""PostgreSQL values as the ADBC driver returns them, made exact or refused.

What the driver gives and what is done with it (each checked by a test):
- numeric: text (an opaque extension) -> decimal128(p, s) from the column's typmod;
  unconstrained numeric -> DECIMAL(38,9); numeric(p > 38) -> decimal256. `NaN` and
  `±Infinity`, and values that do not fit (more than 9 decimals in an unconstrained numeric,
  say), are a SourceValueError naming the column, the value and the row — never rounded.
- money: int64 in cents for the server's locale -> read as `money::numeric` instead.
- timetz, inet, cidr, macaddr, xml and other types the driver passes as opaque PostgreSQL
  binary: read as their text form (`::text`), never as raw wire bytes.
- timestamp / timestamptz `±infinity` (and values past 294246 AD): the driver wraps them to
  dates around 290,000 BC; found below PostgreSQL's own minimum (4713 BC) and refused.
- date `±infinity`: wrapped the same way (int32 days), refused the same way; dates past the
  year 5874897 the driver refuses itself ("date value out of range"), explained.
"""

from __future__ import annotations

import decimal

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.sql.literals import quote_ident
from sync_assets.types import text_form

# Unconstrained NUMERIC has no declared scale: read it with 9 decimals and fail loudly
# rather than round when a value does not fit.
UNCONSTRAINED_NUMERIC = pa.decimal128(38, 9)
# The driver shifts PostgreSQL's microseconds since 2000 to 1970 by adding this, wrapping
# around for ±infinity (int64 max / min) and for timestamps past Arrow's range (294247 AD):
# such values land below PostgreSQL's own minimum (4713 BC)
_EPOCH_SHIFT = 946_684_800_000_000
_PG_MIN_US = -210_866_803_200_000_000
_INFINITY = {-(2**63) + _EPOCH_SHIFT - 1: "'infinity'", -(2**63) + _EPOCH_SHIFT: "'-infinity'"}
# the same for dates, in int32 days (10957 days from 1970 to 2000; 4713 BC is day -2440588)
_DAY_SHIFT = 10_957
_PG_MIN_DAY = -2_440_588
_DATE_INFINITY = {-(2**31) + _DAY_SHIFT - 1: "'infinity'", -(2**31) + _DAY_SHIFT: "'-infinity'"}
# types read as their text form: the driver passes them as opaque PostgreSQL binary
_AS_TEXT_CAST = {"money": "numeric"}


class SourceValueError(ValueError):
    """A source value that cannot be carried exactly."""


def pg_type(field: pa.Field) -> str:
    return (field.metadata or {}).get(b"POSTGRESQL:type", b"").decode()


def read_as(field: pa.Field) -> str | None:
    """The cast a column needs in the SELECT (None: read as the driver gives it)."""
    kind = pg_type(field)
    if kind in _AS_TEXT_CAST:
        return _AS_TEXT_CAST[kind]
    opaque = isinstance(field.type, pa.BaseExtensionType) and "opaque" in field.type.extension_name
    return "text" if opaque and kind != "numeric" else None


def readable_sql(sql: str, schema: pa.Schema) -> str:
    """`sql` wrapped so every column arrives in a type the driver decodes exactly."""
    casts = {f.name: read_as(f) for f in schema}
    if not any(casts.values()):
        return sql
    columns = ", ".join(
        f"{quote_ident(n)}::{c} AS {quote_ident(n)}" if c else quote_ident(n)
        for n, c in casts.items()
    )
    return f"SELECT {columns} FROM ({sql}) AS q"


def numeric_type(field: pa.Field) -> pa.DataType:
    typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
    if typmod < 4:
        return UNCONSTRAINED_NUMERIC
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def plain_field(field: pa.Field) -> pa.Field:
    """The Arrow field exposed for a driver field (numeric as decimal, no extension types)."""
    if pg_type(field) == "numeric":
        return pa.field(field.name, numeric_type(field))
    if text_form(field.type):  # uuid and json(b) keep Arrow's canonical extension types
        return pa.field(field.name, field.type)
    if isinstance(field.type, pa.BaseExtensionType):
        return pa.field(field.name, field.type.storage_type)
    return pa.field(field.name, field.type)


def plain_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A driver batch in the exposed schema, every value checked to be carried exactly."""
    columns = []
    for index, (column, field) in enumerate(zip(batch.columns, schema, strict=True)):
        if isinstance(column.type, pa.BaseExtensionType) and not text_form(column.type):
            column = column.storage
        if pa.types.is_decimal(field.type) and not pa.types.is_decimal(column.type):
            column = _decimals(batch, index, column, field)
        elif column.type != field.type:
            column = pc.cast(column, field.type)  # safe cast: raises rather than truncating
        if pa.types.is_timestamp(field.type):
            _check_finite(batch, column, field, pa.int64(), _PG_MIN_US, _INFINITY)
        elif field.type == pa.date32():
            _check_finite(batch, column, field, pa.int32(), _PG_MIN_DAY, _DATE_INFINITY)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _sql_type(kind: pa.DataType) -> str:
    return f"DECIMAL({kind.precision},{kind.scale})"


def _where(batch: pa.RecordBatch, row: int) -> str:
    """Which row, by its first column (the key in most tables)."""
    first = batch.schema.names[0]
    return f"the row with {first} = {batch.column(0)[row].as_py()!r}"


def _decimals(batch, index: int, column: pa.Array, field: pa.Field) -> pa.Array:
    special = pc.is_in(pc.utf8_lower(column), value_set=pa.array(["nan", "infinity", "-infinity"]))
    if pc.any(special).as_py():
        row = pc.index(special, True).as_py()
        spelled = {"nan": "NaN", "infinity": "Infinity", "-infinity": "-Infinity"}
        value = spelled[column[row].as_py().lower()]
        raise SourceValueError(
            f"column '{field.name}' holds {value} ({_where(batch, row)}), which "
            f"no target's {_sql_type(field.type)} can hold; filter it out or map it in column_mappings "
            f"(e.g. NULLIF({quote_ident(field.name)}, 'NaN'))"
        )
    try:
        return pc.cast(column, field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row, value = _first_misfit(column, field.type)
        unconstrained = field.type == UNCONSTRAINED_NUMERIC
        rule = (
            "unconstrained numeric columns are read as DECIMAL(38,9)"
            if unconstrained
            else f"the column is declared {_sql_type(field.type)}"
        )
        raise SourceValueError(
            f"column '{field.name}' holds {value} ({_where(batch, row)}), which does not fit "
            f"{_sql_type(field.type)} ({rule}); declare the column numeric(p,s) or round it in "
            f"column_mappings (e.g. round({quote_ident(field.name)}, {field.type.scale}))"
        ) from None


def _first_misfit(column: pa.Array, kind: pa.DataType) -> tuple[int, str]:
    """The first value of a text column that does not fit the decimal type (error path)."""
    limit = decimal.Decimal(10) ** (kind.precision - kind.scale)
    quantum = decimal.Decimal(1).scaleb(-kind.scale)
    for row, text in enumerate(column.to_pylist()):
        if text is None:
            continue
        value = decimal.Decimal(text)
        if value.quantize(quantum, rounding=decimal.ROUND_DOWN) != value or abs(value) >= limit:
            return row, text
    return 0, str(column[0].as_py())


def _check_finite(batch, column, field, ints: pa.DataType, minimum: int, infinities) -> None:
    """Refuse the values the driver wrapped around (below PostgreSQL's own minimum)."""
    if pa.types.is_timestamp(field.type):
        column = pc.cast(column, pa.timestamp("us", field.type.tz))
    numbers = column.cast(ints)
    wrapped = pc.less(numbers, minimum)
    if pc.any(wrapped).as_py():
        row = pc.index(wrapped, True).as_py()
        what = infinities.get(numbers[row].as_py(), "a value past the range Arrow holds")
        raise SourceValueError(
            f"column '{field.name}' holds PostgreSQL {what} ({_where(batch, row)}), which no "
            f"target {'date' if ints == pa.int32() else 'timestamp'} can hold; filter it out or "
            f"map it in column_mappings (e.g. NULLIF({quote_ident(field.name)}, 'infinity'))"
        )
