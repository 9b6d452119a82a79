"""Explicit Arrow -> target type mapping, and schema checks for evolving targets.

Each target system gets its own table here instead of a transpiled guess; nested types go
to JSON text where the target has no nested type (PostgreSQL: jsonb), and types a target
cannot hold are widened losslessly (Delta has no unsigned integers, for example).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


class SchemaChangeError(ValueError):
    """A source schema change the target cannot take without losing data."""


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t)


def is_uuid(t: pa.DataType) -> bool:
    """Arrow's canonical UUID extension type (16 bytes), as the PostgreSQL driver reads uuid."""
    return isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.uuid"


def is_json(t: pa.DataType) -> bool:
    """Arrow's canonical JSON extension type (text), as the PostgreSQL driver reads json(b)."""
    return isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.json"


def array_element(t: pa.DataType) -> pa.DataType | None:
    """The element type of a list of plain scalars (a PostgreSQL array), else None."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        return None
    element = _base(t.value_type)
    if pa.types.is_nested(element) or isinstance(element, pa.BaseExtensionType):
        return None
    return element


def text_form(t: pa.DataType) -> bool:
    """Types a target without them stores as text: uuid (canonical 8-4-4-4-12), json."""
    return is_uuid(t) or is_json(t)


def as_text(t: pa.DataType) -> bool:
    """Types the T-SQL family and Snowflake store as text: intervals (ISO 8601) and decimals
    past 38 digits (their exact digits); they have no such types."""
    return pa.types.is_interval(t) or (pa.types.is_decimal(t) and t.precision > 38)


def _base(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


# Field metadata a source sets on text columns of a declared length (VARCHAR(n) and the like):
# targets with length-limited text types keep the length (same-system syncs stay exact)
MAX_LENGTH = b"sync_assets.max_length"


# Field metadata on a text column that holds JSON (json / nested values made text on the way
# to a target): a target with a JSON type (Snowflake VARIANT) creates the column as that
JSON_TEXT = b"sync_assets.json"


def holds_json(field: pa.Field) -> bool:
    return is_json(field.type) or JSON_TEXT in (field.metadata or {})


def field_max_length(field: pa.Field) -> int | None:
    """The declared text length a source recorded on a field, if any."""
    value = (field.metadata or {}).get(MAX_LENGTH)
    return int(value) if value else None


# ----------------------------------------------------------------------------- Delta / Parquet

_DELTA_WIDEN = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
    pa.float16(): pa.float32(),
    pa.null(): pa.string(),
    pa.large_string(): pa.string(),
    pa.large_binary(): pa.binary(),
    pa.string_view(): pa.string(),
}


def delta_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type a Delta table stores for `t` (Delta protocol types only)."""
    t = _base(t)
    if text_form(t):  # Delta has no uuid or json type
        return pa.string()
    if t in _DELTA_WIDEN:
        return _DELTA_WIDEN[t]
    if pa.types.is_timestamp(t):
        # Delta has TIMESTAMP (an instant, UTC) and TIMESTAMP_NTZ, both in microseconds.
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_interval(t):
        return pa.string()
    if pa.types.is_decimal(t) and t.precision > 38:
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(delta_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, delta_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(delta_type(t.key_type), delta_type(t.item_type))
    return t


def parquet_type(t: pa.DataType) -> pa.DataType:
    """Parquet holds every Arrow type we read but intervals (ISO 8601 text then), and
    decimals past 38 digits are kept as their exact text: the merge engine (DuckDB) reads a
    wider Parquet DECIMAL as DOUBLE. Dictionaries are decoded for stable schemas."""
    t = _base(t)
    return pa.string() if as_text(t) else t


# ----------------------------------------------------------------------------- SQL targets


def _decimal_sql(t: pa.DataType, max_precision: int | None) -> str:
    if max_precision and t.precision > max_precision:
        return "VARCHAR"
    return f"DECIMAL({t.precision},{t.scale})"


def duckdb_type(t: pa.DataType) -> str:
    """DuckDB column type for an Arrow type (DuckDB holds nested types natively)."""
    t = _base(t)
    if is_uuid(t):
        return "UUID"
    if is_json(t):
        return "JSON"
    simple = {
        pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint8(): "UTINYINT",
        pa.uint16(): "USMALLINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
        pa.float16(): "FLOAT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.string_view(): "VARCHAR",
        pa.binary(): "BLOB",
        pa.large_binary(): "BLOB",
        pa.date32(): "DATE",
        pa.date64(): "DATE",
        pa.null(): "VARCHAR",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        if t.unit == "ns" and not t.tz:
            return "TIMESTAMP_NS"
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_decimal(t):
        return _decimal_sql(t, 38)
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return "INTERVAL"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"{duckdb_type(t.value_type)}[]"
    if pa.types.is_struct(t):
        inner = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in t)
        return f"STRUCT({inner})"
    if pa.types.is_map(t):
        return f"MAP({duckdb_type(t.key_type)}, {duckdb_type(t.item_type)})"
    if pa.types.is_fixed_size_binary(t):
        return "BLOB"
    raise SchemaChangeError(f"no DuckDB type for Arrow type {t}")


def postgres_type(t: pa.DataType, max_length: int | None = None) -> str:
    """PostgreSQL column type for an Arrow type; lists of scalars become arrays, other nested
    types jsonb; text of a declared length is varchar(n)."""
    t = _base(t)
    if max_length and t in (pa.string(), pa.large_string(), pa.string_view()):
        return f"varchar({max_length})"
    if is_uuid(t):
        return "uuid"
    if is_json(t):
        return "jsonb"
    element = array_element(t)
    if element is not None:  # lists of scalars are PostgreSQL arrays (text[] stays text[])
        return f"{postgres_type(element)}[]"
    simple = {
        pa.bool_(): "boolean",
        pa.int8(): "smallint",
        pa.int16(): "smallint",
        pa.int32(): "integer",
        pa.int64(): "bigint",
        pa.uint8(): "smallint",
        pa.uint16(): "integer",
        pa.uint32(): "bigint",
        pa.uint64(): "numeric(20,0)",
        pa.float16(): "real",
        pa.float32(): "real",
        pa.float64(): "double precision",
        pa.string(): "text",
        pa.large_string(): "text",
        pa.string_view(): "text",
        pa.binary(): "bytea",
        pa.large_binary(): "bytea",
        pa.date32(): "date",
        pa.date64(): "date",
        pa.null(): "text",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return "interval"
    if _is_nested(t):
        return "jsonb"
    if pa.types.is_fixed_size_binary(t):
        return "bytea"
    raise SchemaChangeError(f"no PostgreSQL type for Arrow type {t}")


# ----------------------------------------------------------------------------- evolution


def lossless(src: pa.DataType, dst: pa.DataType) -> bool:
    """True when every value of `src` fits `dst` exactly (same type, or a widening)."""
    src, dst = _base(src), _base(dst)
    if src == dst:
        return True
    text = (pa.string(), pa.large_string(), pa.string_view())
    if text_form(src):  # uuid and json keep their value as text
        return dst in text
    if array_element(src) is not None and array_element(dst) is not None:
        return lossless(src.value_type, dst.value_type)
    if pa.types.is_null(src):
        return True
    if pa.types.is_integer(src) and pa.types.is_integer(dst):
        return _int_fits(src, dst)
    if pa.types.is_integer(src) and pa.types.is_decimal(dst):
        return dst.precision - dst.scale >= len(str(_int_range(src)[1]))
    if pa.types.is_floating(src) and pa.types.is_floating(dst):
        return src.bit_width <= dst.bit_width
    if pa.types.is_integer(src) and pa.types.is_floating(dst):
        return src.bit_width < dst.bit_width and dst.bit_width == 64 and src.bit_width <= 32
    if pa.types.is_decimal(src) and pa.types.is_decimal(dst):
        return dst.scale >= src.scale and dst.precision - dst.scale >= src.precision - src.scale
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst):
        return (src.tz is None) == (dst.tz is None) and _unit_rank(dst) >= _unit_rank(src)
    if pa.types.is_date(src) and pa.types.is_date(dst):
        return True
    if src in text and dst in text:
        return True
    if pa.types.is_binary(src) or pa.types.is_large_binary(src):
        return pa.types.is_binary(dst) or pa.types.is_large_binary(dst)
    return False


def _int_range(t: pa.DataType) -> tuple[int, int]:
    bits = t.bit_width
    if pa.types.is_unsigned_integer(t):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _int_fits(src, dst) -> bool:
    lo, hi = _int_range(src)
    dlo, dhi = _int_range(dst)
    return dlo <= lo and hi <= dhi


def _unit_rank(t) -> int:
    return ["s", "ms", "us", "ns"].index(t.unit)


def evolve(
    existing: pa.Schema, incoming: pa.Schema, where: str
) -> tuple[pa.Schema, list[pa.Field]]:
    """The schema incoming rows are cast to, and the new columns to add to the target.

    A column whose incoming type does not fit the existing target type losslessly raises
    SchemaChangeError naming the column and both types.
    """
    known = {f.name: f for f in existing}
    fields, added = [], []
    for field in incoming:
        if field.name not in known:
            fields.append(field)
            added.append(field)
            continue
        target = known[field.name]
        if not lossless(field.type, target.type):
            raise SchemaChangeError(
                f"{where}: column '{field.name}' changed from {target.type} to {field.type} in the "
                "source; writing it would lose data. Change the target column, or cast in "
                "column_mappings."
            )
        fields.append(pa.field(field.name, target.type))
    return pa.schema(fields), added


class ValueFitError(ValueError):
    """A value that does not fit the type the target stores its column as."""


def cast_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast a batch to `schema` column by column (safe casts: overflow and lost precision
    raise, naming the column and the first value that does not fit)."""
    if batch.schema.equals(schema):
        return batch
    columns = []
    for index, (col, f) in enumerate(zip(batch.columns, schema, strict=True)):
        try:
            columns.append(col if col.type == f.type else convert(col, f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueFitError(_misfit(batch, index, f.type, exc)) from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _misfit(batch: pa.RecordBatch, index: int, to: pa.DataType, exc: Exception) -> str:
    """Which value of a column failed its cast (the error path: one value at a time)."""
    column, name = batch.column(index), batch.schema.names[index]
    for row in range(len(column)):
        try:
            convert(column.slice(row, 1), to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            from sync_assets.bad_rows import first_key  # the error path: no import cycle at load

            value = (
                pc.cast(column.slice(row, 1), pa.string()).to_pylist()[0]
                if not pa.types.is_nested(column.type)
                else column[row]
            )
            return (
                f"column '{name}' holds {value} ({first_key(batch, row)}), which the target "
                f"stores as {to} and cannot "
                f"hold exactly ({str(exc).splitlines()[0]}); round or convert it in column_mappings"
            )
    return f"column '{name}' does not fit {to}: {exc}"


def convert(column: pa.Array, to: pa.DataType) -> pa.Array:
    """`column` as type `to`: a safe cast, with uuid, json and intervals to and from text."""
    if is_uuid(column.type) and not is_uuid(to):
        return pc.cast(uuid_text(column), to)
    if pa.types.is_interval(column.type) and not pa.types.is_interval(to):
        return pc.cast(interval_text(column), to)
    if isinstance(column.type, pa.BaseExtensionType):
        column = column.storage  # json: its text
    if isinstance(to, pa.BaseExtensionType):
        return pa.ExtensionArray.from_storage(to, pc.cast(column, to.storage_type))
    return column if column.type == to else pc.cast(column, to)


def _toward_zero(value: int, unit: int) -> tuple[int, int]:
    """(whole units, remainder), both with the sign of `value` (PostgreSQL's way)."""
    whole = abs(value) // unit
    return (
        (whole, abs(value) - whole * unit) if value >= 0 else (-whole, -(abs(value) - whole * unit))
    )


def _iso_duration(value) -> str | None:
    if value is None:
        return None
    years, months = _toward_zero(value.months, 12)
    hours, rest = _toward_zero(value.nanoseconds, 3_600_000_000_000)
    minutes, nanos = _toward_zero(rest, 60_000_000_000)
    whole, fraction = _toward_zero(nanos, 1_000_000_000)
    seconds = f"{whole}.{abs(fraction):09d}".rstrip("0").rstrip(".") if nanos else ""
    if nanos < 0 and whole == 0:
        seconds = "-" + seconds  # -0.5 seconds: the sign is not in `whole`
    date = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (value.days, "D")) if n)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    if not date and not time:
        return "PT0S"
    return "P" + date + ("T" + time if time else "")


def interval_text(column: pa.Array) -> pa.Array:
    """Month-day-nanosecond intervals as ISO 8601 durations, each part signed as PostgreSQL's
    iso_8601 style writes them ('P1Y2M3DT4H5M6.5S'), for targets without an interval type."""
    return pa.array([_iso_duration(v) for v in column.to_pylist()], pa.string())


def uuid_text(column: pa.Array) -> pa.Array:
    """UUIDs in their canonical text form (8-4-4-4-12, lower case)."""
    import uuid

    values = column.storage.to_pylist()
    return pa.array([None if b is None else str(uuid.UUID(bytes=b)) for b in values], pa.string())


def cast_reader(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """A reader yielding `reader`'s batches cast to `schema`, lazily."""
    if reader.schema.equals(schema):
        return reader
    return pa.RecordBatchReader.from_batches(schema, (cast_batch(b, schema) for b in reader))
