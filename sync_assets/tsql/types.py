"""Explicit Arrow <-> column type mapping for the ODBC targets, per flavor.

Three views of one column: the Arrow type a batch arrives with, the SQL type the table is
created with (`sql_type`), and the Arrow type the table holds (`storage_type`), which is what
reading the table back gives and what schema evolution compares. Batches are cast to the
storage type before binding, with pyarrow's safe casts, so a value that does not fit raises
instead of being rounded (nanoseconds into a microsecond column, for example).

The T-SQL mapping follows the Fabric -> Synapse table of the source documents: STRING ->
NVARCHAR(MAX) (VARCHAR(MAX) on Fabric Warehouse), TIMESTAMP -> DATETIME2(6), BOOLEAN -> BIT,
DECIMAL(p,s) kept, ARRAY/STRUCT/MAP -> JSON text.
"""

from __future__ import annotations

import pyarrow as pa

from sync_assets.sql.flavors import Flavor
from sync_assets.types import (  # noqa: F401 (MAX_LENGTH, field_max_length: re-exported)
    MAX_LENGTH,
    SchemaChangeError,
    as_text,
    field_max_length,
    is_json,
    is_uuid,
    text_form,
)

_TEXT = (pa.string(), pa.large_string(), pa.string_view(), pa.null())
_BINARY = (pa.binary(), pa.large_binary())
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 7}


def _base(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _unit(precision: int) -> str:
    """The Arrow unit that holds `precision` fractional digits (pyodbc binds microseconds)."""
    return "s" if precision == 0 else "ms" if precision <= 3 else "us"


def _integer(t: pa.DataType, flavor: Flavor) -> tuple[str, pa.DataType]:
    if t == pa.uint8() and flavor.tinyint:
        return "TINYINT", pa.uint8()
    if t in (pa.int8(), pa.uint8(), pa.int16()):
        return "SMALLINT", pa.int16()
    if t in (pa.uint16(), pa.int32()):
        return "INT", pa.int32()
    if t in (pa.uint32(), pa.int64()):
        return "BIGINT", pa.int64()
    return "DECIMAL(20,0)", pa.decimal128(20, 0)  # uint64


def _tsql(t: pa.DataType, flavor: Flavor) -> tuple[str, pa.DataType]:
    if is_uuid(t):  # sent as text, which the server converts
        return "UNIQUEIDENTIFIER", pa.string()
    if is_json(t) or as_text(t):
        return flavor.text_type, pa.string()
    if pa.types.is_boolean(t):
        return "BIT", pa.bool_()
    if pa.types.is_integer(t):
        return _integer(t, flavor)
    if pa.types.is_floating(t):
        return ("FLOAT", pa.float64()) if t.bit_width == 64 else ("REAL", pa.float32())
    if t in _TEXT or pa.types.is_nested(t):
        return flavor.text_type, pa.string()
    if t in _BINARY or pa.types.is_fixed_size_binary(t):
        return "VARBINARY(MAX)", pa.binary()
    if pa.types.is_date(t):
        return "DATE", pa.date32()
    if pa.types.is_time(t):
        digits = min(_DIGITS[t.unit], flavor.max_time_precision)
        return f"TIME({digits})", pa.time64("us") if digits > 3 else pa.time32(
            _unit(digits) if digits else "s"
        )
    if pa.types.is_timestamp(t):
        digits = min(_DIGITS[t.unit], flavor.max_time_precision)
        if t.tz and flavor.tz_type:
            return f"{flavor.tz_type}({digits})", pa.timestamp(_unit(digits), tz="UTC")
        # no zone-aware type (Fabric): the instant is stored as its UTC wall time
        return f"DATETIME2({digits})", pa.timestamp(_unit(digits))
    if pa.types.is_decimal(t) and t.precision <= 38:
        return f"DECIMAL({t.precision},{t.scale})", pa.decimal128(t.precision, t.scale)
    raise SchemaChangeError(f"no {flavor.name} column type for Arrow type {t}")


def _postgres(t: pa.DataType, flavor: Flavor) -> tuple[str, pa.DataType]:
    if text_form(t) or as_text(t):  # ODBC parameters are text; uuid / jsonb would refuse them
        return "text", pa.string()
    if pa.types.is_boolean(t):
        return "boolean", pa.bool_()
    if pa.types.is_integer(t):
        sql, storage = _integer(t, flavor)
        return {"SMALLINT": "smallint", "INT": "integer", "BIGINT": "bigint"}.get(
            sql, "numeric(20,0)"
        ), storage
    if pa.types.is_floating(t):
        return ("double precision", pa.float64()) if t.bit_width == 64 else ("real", pa.float32())
    if t in _TEXT or pa.types.is_nested(t):
        return "text", pa.string()
    if t in _BINARY or pa.types.is_fixed_size_binary(t):
        return "bytea", pa.binary()
    if pa.types.is_date(t):
        return "date", pa.date32()
    if pa.types.is_time(t):
        return "time", pa.time64("us")
    if pa.types.is_timestamp(t):
        # PostgreSQL keeps microseconds, which is also what reading the column back gives
        return (
            ("timestamptz", pa.timestamp("us", tz="UTC"))
            if t.tz
            else ("timestamp", pa.timestamp("us"))
        )
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})", pa.decimal128(t.precision, t.scale)
    raise SchemaChangeError(f"no PostgreSQL column type for Arrow type {t}")


def column_type(
    t: pa.DataType, flavor: Flavor, max_length: int | None = None
) -> tuple[str, pa.DataType]:
    """(SQL type, stored Arrow type) of a column created for Arrow type `t`; text of a known
    length keeps it (NVARCHAR(n) / VARCHAR(n)), as the source documents' mapping asks."""
    t = _base(t)
    sql, storage = _tsql(t, flavor) if flavor.dialect == "tsql" else _postgres(t, flavor)
    if max_length and storage == pa.string() and not pa.types.is_nested(t):
        limit = 4000 if sql.startswith("NVARCHAR") else 8000
        if sql.endswith("(MAX)") and max_length <= limit:
            sql = f"{sql[:-5]}({max_length})"
        elif sql == "text":
            sql = f"varchar({max_length})"
    return sql, storage


def sql_type(t: pa.DataType, flavor: Flavor) -> str:
    return column_type(t, flavor)[0]


def storage_type(t: pa.DataType, flavor: Flavor) -> pa.DataType:
    return column_type(t, flavor)[1]


# ----------------------------------------------------------------------------- reading back

_CATALOG = {
    # T-SQL
    "bigint": pa.int64(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.uint8(),
    "bit": pa.bool_(),
    "real": pa.float32(),
    "date": pa.date32(),
    "nvarchar": pa.string(),
    "varchar": pa.string(),
    "nchar": pa.string(),
    "char": pa.string(),
    "ntext": pa.string(),
    "text": pa.string(),
    "uniqueidentifier": pa.string(),
    "xml": pa.string(),
    "varbinary": pa.binary(),
    "binary": pa.binary(),
    "image": pa.binary(),
    # PostgreSQL (information_schema spelling)
    "integer": pa.int32(),
    "boolean": pa.bool_(),
    "double precision": pa.float64(),
    "character varying": pa.string(),
    "character": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "bytea": pa.binary(),
    "uuid": pa.string(),
}


def arrow_type_of(
    data_type: str, precision=None, scale=None, datetime_precision=None
) -> pa.DataType:
    """The Arrow type read back for a column described by INFORMATION_SCHEMA.COLUMNS."""
    name = data_type.lower()
    if name in _CATALOG:
        return _CATALOG[name]
    if name in ("money", "smallmoney"):  # fixed 4 decimals
        return pa.decimal128(19 if name == "money" else 10, 4)
    if name in ("decimal", "numeric"):
        if precision is None:
            return pa.decimal128(38, 9)
        return pa.decimal128(int(precision), int(scale or 0))
    if name == "float":
        return pa.float32() if precision is not None and int(precision) <= 24 else pa.float64()
    digits = 6 if datetime_precision is None else int(datetime_precision)
    if name in ("datetime2", "timestamp without time zone", "datetime", "smalldatetime"):
        return pa.timestamp(
            _unit(digits) if name in ("datetime2", "timestamp without time zone") else "ms"
        )
    if name in ("datetimeoffset", "timestamp with time zone"):
        return pa.timestamp(_unit(digits), tz="UTC")
    if name in ("time", "time without time zone"):
        return pa.time64("us") if digits > 3 else pa.time32(_unit(digits) if digits else "s")
    raise SchemaChangeError(f"column type {data_type} has no Arrow mapping")
