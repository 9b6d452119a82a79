"""ODBC plumbing: connection strings, Entra ID tokens, and Arrow <-> pyodbc conversion.

Reads turn `fetchmany` row batches into Arrow record batches (one batch in memory at a
time); writes bind one Arrow batch as a parameter array (`fast_executemany`), with explicit
input sizes so a NULL in the first row cannot make the driver guess a wrong type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import struct
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.bad_rows import text_length
from sync_assets.config.models import TsqlConnection
from sync_assets.secrets import connection_secrets, redact
from sync_assets.sql.flavors import FLAVORS, Flavor
from sync_assets.types import is_uuid

DEFAULT_DRIVERS = {"tsql": "ODBC Driver 18 for SQL Server", "postgres": "PostgreSQL Unicode"}
# Entra ID access tokens for Azure SQL, Synapse and Fabric SQL endpoints
TOKEN_SCOPE = "https://database.windows.net/.default"
SQL_COPT_SS_ACCESS_TOKEN = 1256  # msodbcsql pre-connect attribute taking the token struct
SQL_SS_TIMESTAMPOFFSET = -155  # DATETIMEOFFSET, which pyodbc cannot read without a converter


def flavor_of(conn: TsqlConnection) -> Flavor:
    """The connection's flavor, with its table options when the connection sets them."""
    flavor = FLAVORS["sqlserver" if conn.flavor == "azure_sql" else conn.flavor]
    if conn.table_options:
        flavor = dataclasses.replace(flavor, table_options=conn.table_options)
    return flavor


def _braced(value: str) -> str:
    """An ODBC attribute value, braced when it holds characters that end or open a value."""
    if any(c in value for c in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def connection_string(conn: TsqlConnection) -> str:
    """The ODBC connection string for a connection (holds the password: never log it)."""
    flavor = flavor_of(conn)
    if conn.odbc_connect:
        parts = [conn.odbc_connect.rstrip(";")]
    else:
        parts = [f"DRIVER={{{conn.driver or DEFAULT_DRIVERS[flavor.dialect]}}}"]
        if flavor.dialect == "tsql":
            server = f"tcp:{conn.server},{conn.port}" if conn.port else conn.server
            parts += [
                f"SERVER={_braced(server)}",
                f"DATABASE={_braced(conn.database)}",
                f"Encrypt={'yes' if conn.encrypt else 'no'}",
                f"TrustServerCertificate={'yes' if conn.trust_server_certificate else 'no'}",
            ]
        else:
            parts += [
                f"SERVER={_braced(conn.server)}",
                f"PORT={conn.port or 5432}",
                f"DATABASE={_braced(conn.database)}",
            ]
    if conn.authentication == "sql":
        if conn.user:
            parts.append(f"UID={_braced(conn.user)}")
        if conn.password:
            parts.append(f"PWD={_braced(conn.password)}")
    if flavor.dialect == "postgres":
        # booleans as booleans, sessions in UTC so naive binds of instants mean UTC
        parts += ["BoolsAsChar=0", "ConnSettings={SET TIME ZONE 'UTC'}"]
    parts += [f"{k}={_braced(v)}" for k, v in conn.options.items()]
    return ";".join(parts)


def _credential(conn: TsqlConnection):
    # imported on first use: azure-identity is only needed for Entra ID logins
    from azure import identity

    if conn.authentication == "service_principal":
        return identity.ClientSecretCredential(conn.tenant_id, conn.client_id, conn.client_secret)
    if conn.authentication == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=conn.client_id)
    if conn.authentication == "azure_cli":
        return identity.AzureCliCredential()
    return identity.DefaultAzureCredential()


def access_token_struct(token: str) -> bytes:
    """The byte layout msodbcsql expects for SQL_COPT_SS_ACCESS_TOKEN: length + UTF-16-LE."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def _datetimeoffset(value: bytes) -> dt.datetime:
    year, month, day, hour, minute, second, nanos, tz_h, tz_m = struct.unpack("<6hI2h", value)
    zone = dt.timezone(dt.timedelta(hours=tz_h, minutes=tz_m))
    return dt.datetime(year, month, day, hour, minute, second, nanos // 1000, zone)


def connect(conn: TsqlConnection, *, autocommit: bool = False):
    """A pyodbc connection; errors are re-raised with secrets redacted."""
    import pyodbc

    attrs = {}
    if conn.authentication != "sql":
        token = _credential(conn).get_token(TOKEN_SCOPE).token
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = access_token_struct(token)
    try:
        con = pyodbc.connect(
            connection_string(conn),
            autocommit=autocommit,
            timeout=conn.login_timeout,
            attrs_before=attrs or None,
        )
    except pyodbc.Error as exc:
        raise ConnectionError(
            redact(f"ODBC connection failed: {exc}", connection_secrets(conn))
        ) from None
    if flavor_of(conn).dialect == "tsql":
        con.add_output_converter(SQL_SS_TIMESTAMPOFFSET, _datetimeoffset)
    return con


# ----------------------------------------------------------------------------- Arrow -> binds


def bind_columns(batch: pa.RecordBatch) -> list[tuple]:
    """A batch as pyodbc parameter rows. Instants are bound as their UTC wall time: the
    column (DATETIMEOFFSET, timestamptz in a UTC session, or Fabric's UTC DATETIME2) reads
    them as UTC. Times are bound as ISO text: ODBC's SQL_TIME_STRUCT has no fractional
    seconds (psqlODBC dropped them), while every server converts the text exactly."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz:
            column = column.cast(pa.timestamp(column.type.unit))
        elif pa.types.is_time(column.type):
            column = column.cast(pa.string())
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))


def _longest(column: pa.Array) -> int:
    """Longest value of a text or binary column (at least 1): the bind buffer's width. Text
    is bound as UTF-16 (SQL_WVARCHAR), where a character outside the BMP (an emoji) takes
    two code units: a width in code points truncated such values."""
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    longest = pc.max(text_length(column, "utf16" if text else "bytes")).as_py()
    return max(int(longest or 0), 1)


def input_sizes(batch: pa.RecordBatch, flavor: Flavor) -> list[tuple]:
    """(SQL type, column size, decimal digits) per column of one batch, for setinputsizes.
    Text and binary widths are the batch's longest value: a size of 0 ("unbounded") crashes
    fast_executemany on psqlODBC. On T-SQL, values longer than NVARCHAR(4000) / VARBINARY(8000)
    are bound with size 0, which is how msodbcsql takes (MAX) parameters."""
    import pyodbc

    sizes = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        t = field.type
        if pa.types.is_boolean(t):
            sizes.append((pyodbc.SQL_BIT, 0, 0))
        elif pa.types.is_integer(t):
            sizes.append((pyodbc.SQL_BIGINT if t.bit_width == 64 else pyodbc.SQL_INTEGER, 0, 0))
        elif pa.types.is_floating(t):
            sizes.append((pyodbc.SQL_DOUBLE, 0, 0))
        elif pa.types.is_decimal(t):
            sizes.append((pyodbc.SQL_DECIMAL, t.precision, t.scale))
        elif pa.types.is_date(t):
            sizes.append((pyodbc.SQL_TYPE_DATE, 0, 0))
        elif pa.types.is_time(t):
            sizes.append((pyodbc.SQL_WVARCHAR, 16, 0))  # bound as text, see bind_columns
        elif pa.types.is_timestamp(t):
            sizes.append(
                (
                    pyodbc.SQL_TYPE_TIMESTAMP,
                    27,
                    6 if t.unit in ("us", "ns") else 3 if t.unit == "ms" else 0,
                )
            )
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            sizes.append((pyodbc.SQL_VARBINARY, _width(column, 8000, flavor), 0))
        else:
            sizes.append((pyodbc.SQL_WVARCHAR, _width(column, 4000, flavor), 0))
    return sizes


def _width(column: pa.Array, max_sized: int, flavor: Flavor) -> int:
    longest = _longest(column)
    return 0 if flavor.dialect == "tsql" and longest > max_sized else longest


# ----------------------------------------------------------------------------- rows -> Arrow


def _described_type(description) -> pa.DataType:
    _, type_code, _, internal_size, precision, scale, _ = description
    if type_code is bool:
        return pa.bool_()
    if type_code is int:
        # pyodbc reports an integer column's size as its decimal digits
        digits = precision or internal_size or 19
        return pa.int16() if digits <= 5 else pa.int32() if digits <= 10 else pa.int64()
    if type_code is float:
        return pa.float64()
    if type_code is decimal.Decimal:
        return pa.decimal128(min(int(precision or 38), 38), int(scale or 0))
    if type_code is dt.datetime:
        return pa.timestamp("us")
    if type_code is dt.date:
        return pa.date32()
    if type_code is dt.time:
        return pa.time64("us")
    if type_code in (bytes, bytearray):
        return pa.binary()
    return pa.string()


def described_schema(description) -> pa.Schema:
    """The Arrow schema of a result set from cursor.description (ODBC's view, which has no
    time zones: T-SQL sources describe their queries with sp_describe_first_result_set)."""
    return pa.schema([pa.field(d[0], _described_type(d)) for d in description])


def rows_to_table(rows: list, description) -> pa.Table:
    """A small result (probes) with types inferred from its values, so drivers that describe
    a column vaguely (DATETIMEOFFSET) still give the right type; all-NULL columns take the
    described type."""
    schema = described_schema(description)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for values, field in zip(columns, schema, strict=True):
        known = [v for v in values if v is not None]
        arrays.append(pa.array(values) if known else pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, names=schema.names)


def rows_to_batch(rows: list, schema: pa.Schema) -> pa.RecordBatch:
    """One fetchmany() result as a record batch of `schema` (naive datetimes for a zoned
    column are UTC wall times, as the session is in UTC)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [_array(values, field.type) for values, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values, kind: pa.DataType) -> pa.Array:
    if is_uuid(kind):  # the driver gives uniqueidentifier / uuid as text, in either case
        storage = pa.array(
            [None if v is None else uuid.UUID(v).bytes for v in values], pa.binary(16)
        )
        return pa.ExtensionArray.from_storage(kind, storage)
    return pa.array(values, type=kind)


def stream_cursor(cursor, schema: pa.Schema, batch_size: int):
    """Yield the cursor's remaining rows as record batches of at most `batch_size` rows."""
    while True:
        rows = cursor.fetchmany(batch_size)
        if not rows:
            return
        yield rows_to_batch(rows, schema)
