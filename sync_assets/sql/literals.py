"""Typed SQL literals and identifiers for the engines we talk SQL to.

Values (watermarks, window bounds) are rendered for the column's Arrow type, so a predicate
compares like with like: a DATE column against a DATE, a TIMESTAMPTZ against an instant.
Dialects: 'duckdb', 'postgres', 'tsql' (SQL Server, Synapse, Fabric Warehouse), and 'delta'
(DataFusion, as delta-rs parses predicates).
"""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa


def quote_ident(name: str) -> str:
    """Double-quote an identifier, doubling embedded quotes (same in DuckDB, PostgreSQL, DataFusion)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str | None) -> str:
    """schema.object with each present part quoted."""
    return ".".join(quote_ident(p) for p in parts if p)


def quote_string(value: str) -> str:
    """A single-quoted string literal with embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def literal(value, arrow_type: pa.DataType, dialect: str) -> str:
    """Render `value` as a literal comparable with a column of `arrow_type`."""
    if value is None:
        return "NULL"
    if pa.types.is_timestamp(arrow_type):
        return _timestamp_literal(_as_datetime(value), arrow_type.tz is not None, dialect)
    if pa.types.is_date(arrow_type):
        day = value.date() if isinstance(value, dt.datetime) else _as_date(value)
        return f"CAST({quote_string(day.isoformat())} AS DATE)"
    if pa.types.is_boolean(arrow_type):
        if dialect == "tsql":  # BIT has no TRUE/FALSE literals
            return "1" if value else "0"
        return "TRUE" if value else "FALSE"
    if pa.types.is_integer(arrow_type):
        return str(int(value))
    if pa.types.is_floating(arrow_type):
        return repr(float(value))
    if pa.types.is_decimal(arrow_type):
        return str(decimal.Decimal(str(value)))
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ("N" if dialect == "tsql" else "") + quote_string(str(value))
    raise TypeError(f"cannot compare a column of type {arrow_type} with a literal")


def _timestamp_literal(value: dt.datetime, with_tz: bool, dialect: str) -> str:
    if with_tz:
        instant = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        text = instant.astimezone(dt.UTC).isoformat(sep=" ")
        cast = "DATETIMEOFFSET" if dialect == "tsql" else "TIMESTAMPTZ"
    else:
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        cast = "DATETIME2" if dialect == "tsql" else "TIMESTAMP"
    if dialect == "delta":
        # DataFusion casts a bare string to the column's own unit; CAST(... AS TIMESTAMP)
        # would be nanoseconds and fail to compare with a microsecond column.
        return quote_string(text)
    return f"CAST({quote_string(text)} AS {cast})"


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return dt.datetime.fromisoformat(str(value))


def _as_date(value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def to_json_value(value):
    """A watermark value as JSON-safe text/number, reversible through `literal`."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def from_json_value(value, arrow_type: pa.DataType):
    """The inverse of `to_json_value` for a column of `arrow_type` (None stays None)."""
    if value is None:
        return None
    if pa.types.is_timestamp(arrow_type):
        return _as_datetime(value)
    if pa.types.is_date(arrow_type):
        return _as_date(value)
    if pa.types.is_integer(arrow_type):
        return int(value)
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_decimal(arrow_type):
        return decimal.Decimal(str(value))
    return value
