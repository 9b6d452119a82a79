"""Explicit Arrow <-> Snowflake column types.

Integers are NUMBER(38,0) (Snowflake has one integer type), decimals keep (p,s), text is
VARCHAR, instants TIMESTAMP_TZ(6), wall-clock times TIMESTAMP_NTZ(6), json and lists /
structs / maps VARIANT (staged as JSON text, PARSE_JSON when applied). `storage_type` is
what reading the column back gives; batches are cast to it with safe casts.
"""

from __future__ import annotations

import pyarrow as pa

from sync_assets.types import SchemaChangeError, as_text, is_json, is_uuid


def _base(t):
    return t.value_type if pa.types.is_dictionary(t) else t


def column_type(t: pa.DataType, max_length: int | None = None) -> tuple[str, pa.DataType]:
    """(Snowflake type, stored Arrow type); text of a declared length is VARCHAR(n)."""
    t = _base(t)
    if max_length and t in (pa.string(), pa.large_string(), pa.string_view()):
        return f"VARCHAR({max_length})", pa.string()
    if is_uuid(t):
        return "VARCHAR(36)", pa.string()
    if is_json(t) or pa.types.is_nested(t):  # staged as JSON text, parsed when applied
        return "VARIANT", pa.string()
    if as_text(t):
        return "VARCHAR", pa.string()
    if pa.types.is_boolean(t):
        return "BOOLEAN", pa.bool_()
    if t == pa.uint64():
        return "NUMBER(20,0)", pa.decimal128(20, 0)
    if pa.types.is_integer(t):
        return "NUMBER(38,0)", pa.int64()
    if pa.types.is_floating(t):
        return "FLOAT", pa.float64()
    if pa.types.is_decimal(t) and t.precision <= 38:
        return f"NUMBER({t.precision},{t.scale})", pa.decimal128(t.precision, t.scale)
    if t in (pa.string(), pa.large_string(), pa.string_view(), pa.null()):
        return "VARCHAR", pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BINARY", pa.binary()
    if pa.types.is_date(t):
        return "DATE", pa.date32()
    if pa.types.is_time(t):
        return "TIME(6)", pa.time64("us")
    if pa.types.is_timestamp(t):
        return (
            ("TIMESTAMP_TZ(6)", pa.timestamp("us", tz="UTC"))
            if t.tz
            else ("TIMESTAMP_NTZ(6)", pa.timestamp("us"))
        )
    raise SchemaChangeError(f"no Snowflake column type for Arrow type {t}")


def sql_type(t: pa.DataType) -> str:
    return column_type(t)[0]


def storage_type(t: pa.DataType) -> pa.DataType:
    return column_type(t)[1]


def arrow_type_of(data_type: str, precision=None, scale=None) -> pa.DataType:
    """The Arrow type read back for a column as INFORMATION_SCHEMA.COLUMNS describes it."""
    name = data_type.upper()
    if name in ("NUMBER", "DECIMAL", "NUMERIC", "FIXED"):  # FIXED: the connector's name for NUMBER
        p, s = int(precision or 38), int(scale or 0)
        if s == 0 and (p <= 18 or p == 38):  # NUMBER(38,0) is how integer columns are made
            return pa.int64()
        return pa.decimal128(p, s)
    simple = {
        "FLOAT": pa.float64(),
        "DOUBLE": pa.float64(),
        "REAL": pa.float64(),
        "TEXT": pa.string(),
        "VARCHAR": pa.string(),
        "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(),
        "BINARY": pa.binary(),
        "TIME": pa.time64("us"),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "VARIANT": pa.string(),
        "OBJECT": pa.string(),
        "ARRAY": pa.string(),
        "BIGINT": pa.int64(),
        "INTEGER": pa.int64(),
    }
    if name in simple:
        return simple[name]
    raise SchemaChangeError(f"Snowflake column type {data_type} has no Arrow mapping")
