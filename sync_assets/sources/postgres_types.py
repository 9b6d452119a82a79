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

from sync_assets.bad_rows import Problem, message
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


def plain_batch(batch: pa.RecordBatch, schema: pa.Schema, bad_rows=None) -> pa.RecordBatch:
    """A driver batch in the exposed schema, every value checked to be carried exactly: rows
    holding a value no target holds are refused, or quarantined by `bad_rows`."""
    raw = pa.RecordBatch.from_arrays(
        [_unwrapped(c) for c in batch.columns], names=batch.schema.names
    )
    columns, problems = _converted(raw, schema)
    if problems:
        if bad_rows is None:
            raise SourceValueError(message(raw, problems[0]))
        raw = bad_rows.handle(raw, problems, SourceValueError)
        columns, _ = _converted(raw, schema)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _converted(raw: pa.RecordBatch, schema: pa.Schema) -> tuple[list, list[Problem]]:
    """Each column in its exposed type (safe casts: they raise rather than truncate), and the
    values that cannot be carried."""
    columns, problems = [], []
    for column, field in zip(raw.columns, schema, strict=True):
        try:
            typed = pc.cast(column, field.type) if column.type != field.type else column
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if not pa.types.is_decimal(field.type):
                raise
            problems += _decimal_problems(column, field)
            typed = pa.nulls(len(column), field.type)  # the batch is refused or filtered
        if pa.types.is_timestamp(field.type):
            problems += _wrapped(typed, field, pa.int64(), _PG_MIN_US, _INFINITY)
        elif field.type == pa.date32():
            problems += _wrapped(typed, field, pa.int32(), _PG_MIN_DAY, _DATE_INFINITY)
        columns.append(typed)
    return columns, problems


def _unwrapped(column: pa.Array) -> pa.Array:
    if isinstance(column.type, pa.BaseExtensionType) and not text_form(column.type):
        return column.storage
    return column


def _sql_type(kind: pa.DataType) -> str:
    return f"DECIMAL({kind.precision},{kind.scale})"


_SPELLED = {"nan": "NaN", "infinity": "Infinity", "-infinity": "-Infinity"}


def _decimal_problems(column: pa.Array, field: pa.Field) -> list[Problem]:
    """NaN / ±Infinity, and values that do not fit the column's decimal type (a text column:
    the driver passes numeric as text)."""
    name, kind = field.name, field.type
    special = pc.fill_null(
        pc.is_in(pc.utf8_lower(column), value_set=pa.array(list(_SPELLED))), False
    )
    problems = []
    if special.true_count:
        problems.append(
            Problem(
                name,
                special,
                lambda r: _SPELLED[column[r].as_py().lower()],
                f"no target's {_sql_type(kind)} can hold",
                f"filter it out or map it in column_mappings (e.g. NULLIF({quote_ident(name)}, 'NaN'))",
            )
        )
    rest = pc.if_else(special, pa.scalar(None, column.type), column)
    try:
        pc.cast(rest, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rule = (
            "unconstrained numeric columns are read as DECIMAL(38,9)"
            if kind == UNCONSTRAINED_NUMERIC
            else f"the column is declared {_sql_type(kind)}"
        )
        problems.append(
            Problem(
                name,
                _misfits(rest, kind),
                lambda r: column[r].as_py(),
                f"does not fit {_sql_type(kind)} ({rule})",
                f"declare the column numeric(p,s) or round it in column_mappings (e.g. "
                f"round({quote_ident(name)}, {kind.scale}))",
            )
        )
    return problems


def _misfits(column: pa.Array, kind: pa.DataType) -> pa.BooleanArray:
    """Which values of a text column do not fit the decimal type (the error path only)."""
    limit = decimal.Decimal(10) ** (kind.precision - kind.scale)
    quantum = decimal.Decimal(1).scaleb(-kind.scale)

    def misfit(text) -> bool:
        if text is None:
            return False
        value = decimal.Decimal(text)
        return value.quantize(quantum, rounding=decimal.ROUND_DOWN) != value or abs(value) >= limit

    return pa.array([misfit(t) for t in column.to_pylist()], pa.bool_())


def _wrapped(column, field, ints: pa.DataType, minimum: int, infinities) -> list[Problem]:
    """The values the driver wrapped around (below PostgreSQL's own minimum)."""
    if pa.types.is_timestamp(field.type):
        column = pc.cast(column, pa.timestamp("us", field.type.tz))
    numbers = column.cast(ints)
    wrapped = pc.fill_null(pc.less(numbers, minimum), False)
    if not wrapped.true_count:
        return []
    what = "date" if ints == pa.int32() else "timestamp"
    return [
        Problem(
            field.name,
            wrapped,
            lambda r: (
                "PostgreSQL "
                + infinities.get(numbers[r].as_py(), "a value past the range Arrow holds")
            ),
            f"no target {what} can hold",
            f"filter it out or map it in column_mappings (e.g. NULLIF({quote_ident(field.name)}, 'infinity'))",
        )
    ]
