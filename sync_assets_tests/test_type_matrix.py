"""The type matrix: one table with every type a source system has (and NULLs, and awkward
column names) synced from each local source into every local target, twice (the second run
after updates and an insert), the values compared exactly in a canonical rendering, and each
target column's type checked against the README's type tables. (Issue: type fidelity.)"""

from __future__ import annotations

import datetime as dt
import json
import struct
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sync_assets_tests.conftest import TARGET_KINDS, target_connection
from sync_assets_tests.harness import Project

UTC = dt.UTC

# canonical kind of each logical column -> values of rows 1, 2 (row 3 is all NULL); run 2
# updates row 1 with the values of "changed" and inserts row 4 with row 2's values
VALUES = {
    "bool": (True, False),
    "int16": (-32768, 0),
    "int32": (2147483647, -1),
    "int64": (9223372036854775807, 0),
    "float32": (struct.unpack("f", struct.pack("f", 0.1))[0], -0.5),  # 0.1 as a float32
    "float64": (1.7976931348623157e308, 5e-324),
    "dec": (Decimal("-99999999999999.9999"), Decimal("0.0001")),
    "dec38": (Decimal("99999999999999999999999999999.999999999"), Decimal("-0.000000001")),
    "text": ("héllo 🌍\t\"q\" 'x' \x01 ü", ""),
    "varchar": ("abcdefghij", ""),
    "date": (dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    "time": (dt.time(23, 59, 59, 999999), dt.time(0, 0)),
    "ts": (dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(1, 1, 1)),
    "ts_ns": (dt.datetime(2200, 1, 1, 0, 0, 0, 123456), dt.datetime(1700, 1, 1)),  # ns range
    "tstz": (dt.datetime(2024, 6, 30, 22, 0, 0, 123456, UTC), dt.datetime(1970, 1, 1, tzinfo=UTC)),
    "bytes": (b"\x00\xff\x10", b""),
    "uuid": (uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), uuid.UUID(int=0)),
    "json": ({"a": [1, 2.5, None], "b": "ü"}, []),
    "ints": ([1, None, 3], []),
    "texts": (["a", None, "ü c"], []),
    # PostgreSQL's own types
    "numeric": (Decimal("123.456789012"), Decimal("-0.5")),
    "numeric50": (Decimal("1234567890123456789012345678901234567890.0123456789"), Decimal("0")),
    "interval": ("P1Y2M3DT4H5M6.5S", "PT-6.000007S"),  # ISO 8601, as targets without it hold it
    "money": (Decimal("12.50"), Decimal("-0.01")),
    "inet": ("10.0.0.1/24", "::1"),
    "enum": ("happy", "sad"),
    "timetz": ("12:00:00+02", "23:59:59.999999-05:30"),
    "char3": ("abc", "x  "),
}
CHANGED = {
    "text": "changed",
    "json": {"changed": True},
    "ints": [7],
    "dec": Decimal("1.5"),
    "tstz": dt.datetime(2000, 2, 29, 12, tzinfo=UTC),
}


def rows(run: int) -> list[dict]:
    """The source rows of run 1 or 2, by canonical kind."""
    first = {k: v[0] for k, v in VALUES.items()}
    second = {k: v[1] for k, v in VALUES.items()}
    nulls = dict.fromkeys(VALUES)
    table = {1: first, 2: second, 3: nulls}
    if run == 2:
        table[1] = {**first, **CHANGED}
        table[4] = second
    return [{"id": i, **r} for i, r in table.items()]


# --------------------------------------------------------------------------- canonical form


def canon(kind: str, value):
    """A value as every target's read-back can be compared in: uuid as 8-4-4-4-12, json and
    lists parsed, instants in UTC, times and dates from their ISO text where the target keeps
    them as text."""
    if value is None:
        return None
    if kind == "uuid":
        if isinstance(value, bytes):
            return str(uuid.UUID(bytes=value))
        return str(uuid.UUID(str(value)))
    if kind in ("json", "ints", "texts"):
        if isinstance(value, str):
            value = json.loads(value)
        return json.dumps(value, sort_keys=True)
    if kind == "time" and isinstance(value, str):
        return dt.time.fromisoformat(value)
    if kind == "tstz":
        assert value.tzinfo is not None, f"instant {value!r} came back without a zone"
        return value.astimezone(UTC)
    if kind == "inet":  # PostgreSQL's inet::text spells the mask of a host: '::1/128'
        import ipaddress

        return ipaddress.ip_interface(value)
    if kind in ("dec", "dec38", "numeric", "numeric50", "money"):
        return Decimal(value)
    if kind == "interval" and not isinstance(value, str):
        from sync_assets.types import interval_text

        return interval_text(pa.array([value], pa.month_day_nano_interval()))[0].as_py()
    return value


def canonical_rows(table_rows: list[dict], columns: dict[str, str]) -> dict:
    """{id: {column: canonical value}} for rows keyed by column name."""
    return {
        r["id"]: {name: canon(kind, r[name]) for name, kind in columns.items()} for r in table_rows
    }


# --------------------------------------------------------------------------- sources
# Each source declares its columns as {name: (type in the source's own DDL, canonical kind)}
# and a `load(rows)` that makes its table hold exactly `rows` (canonical values). Names
# include a reserved word, spaces, mixed case and non-ASCII characters.

PG_COLUMNS = {
    "c_bool": ("boolean", "bool"),
    "c_int2": ("smallint", "int16"),
    "order": ("integer", "int32"),
    "c_int8": ("bigint", "int64"),
    "c_real": ("real", "float32"),
    "c_double": ("double precision", "float64"),
    "Prix Net": ("numeric(18,4)", "dec"),
    "c_num38": ("numeric(38,9)", "dec38"),
    "naïve text": ("text", "text"),
    "c_varchar": ("varchar(20)", "varchar"),
    "c_date": ("date", "date"),
    "c_time": ("time", "time"),
    "c_ts": ("timestamp", "ts"),
    "c_tstz": ("timestamptz", "tstz"),
    "c_bytea": ("bytea", "bytes"),
    "c_uuid": ("uuid", "uuid"),
    "c_jsonb": ("jsonb", "json"),
    "c_ints": ("integer[]", "ints"),
    "c_texts": ("text[]", "texts"),
    "c_numeric": ("numeric", "numeric"),
    "c_num50": ("numeric(50,10)", "numeric50"),
    "c_interval": ("interval", "interval"),
    "c_money": ("money", "money"),
    "c_inet": ("inet", "inet"),
    "c_enum": ("mood", "enum"),
    "c_timetz": ("timetz", "timetz"),
    "c_json": ("json", "json"),
    "c_char": ("char(3)", "char3"),
}


def by_name(table_rows: list[dict], columns: dict) -> list[dict]:
    """Rows keyed by the source's column names instead of canonical kinds."""
    return [{"id": r["id"], **{n: r[k] for n, (_, k) in columns.items()}} for r in table_rows]


class PostgresTable:
    columns = PG_COLUMNS
    spec = {"schema": "public", "object": "t"}

    def __init__(self, tmp_path, pg_uri, server):
        import psycopg

        self.uri = pg_uri
        ddl = ", ".join(f'"{n}" {t}' for n, (t, _) in self.columns.items())
        with psycopg.connect(pg_uri, autocommit=True) as con:
            if "mood" in ddl:
                con.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
            con.execute(f"CREATE TABLE t (id int PRIMARY KEY, {ddl})")

    def connection(self) -> dict:
        return {"type": "postgres", "dsn": self.uri}

    def load(self, table_rows: list[dict]) -> None:
        import psycopg
        from psycopg.types.json import Jsonb

        kinds = {n: k for n, (_, k) in self.columns.items()}
        values = [
            [Jsonb(v) if kinds.get(n) == "json" and v is not None else v for n, v in row.items()]
            for row in by_name(table_rows, self.columns)
        ]
        names = ["id", *self.columns]
        cols = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join(["%s"] * len(names))
        with psycopg.connect(self.uri, autocommit=True) as con:
            con.execute("DELETE FROM t")
            with con.cursor() as cur:
                cur.executemany(f"INSERT INTO t ({cols}) VALUES ({marks})", values)


class OdbcTable(PostgresTable):
    """A PostgreSQL table read through psqlODBC, the stand-in for the T-SQL family's sources:
    the types T-SQL has (no arrays; json is text there)."""

    columns = {
        n: (t, k)
        for n, (t, k) in PG_COLUMNS.items()
        if k in ("bool", "int16", "int32", "int64", "float32", "float64", "dec", "dec38", "text")
        or k in ("varchar", "date", "time", "ts", "tstz", "bytes", "uuid", "json")
    }

    def connection(self) -> dict:
        from sync_assets_tests.conftest import odbc_connection

        return odbc_connection(self.uri)


DUCKDB_COLUMNS = {
    "c_bool": ("BOOLEAN", "bool"),
    "c_int2": ("SMALLINT", "int16"),
    "order": ("INTEGER", "int32"),
    "c_int8": ("BIGINT", "int64"),
    "c_real": ("REAL", "float32"),
    "c_double": ("DOUBLE", "float64"),
    "Prix Net": ("DECIMAL(18,4)", "dec"),
    "c_num38": ("DECIMAL(38,9)", "dec38"),
    "naïve text": ("VARCHAR", "text"),
    "c_date": ("DATE", "date"),
    "c_time": ("TIME", "time"),
    "c_ts": ("TIMESTAMP", "ts"),
    "c_tstz": ("TIMESTAMPTZ", "tstz"),
    "c_blob": ("BLOB", "bytes"),
    "c_uuid": ("UUID", "uuid"),
    "c_json": ("JSON", "json"),
    "c_ints": ("INTEGER[]", "ints"),
    "c_texts": ("VARCHAR[]", "texts"),
    "c_ts_ns": ("TIMESTAMP_NS", "ts_ns"),  # whole microseconds: every target holds them
}


class DuckDBTable:
    columns = DUCKDB_COLUMNS
    spec = {"schema": "main", "object": "t"}

    def __init__(self, tmp_path, pg_uri, server):
        self.path = tmp_path / "source.duckdb"
        ddl = ", ".join(f'"{n}" {t}' for n, (t, _) in self.columns.items())
        self._run(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {ddl})")

    def _run(self, sql: str, rows=None) -> None:
        import duckdb

        con = duckdb.connect(str(self.path))
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.executemany(sql, rows) if rows is not None else con.execute(sql)
        finally:
            con.close()

    def connection(self) -> dict:
        return {"type": "duckdb", "path": str(self.path)}

    def load(self, table_rows: list[dict]) -> None:
        kinds = {n: k for n, (_, k) in self.columns.items()}
        values = [
            [json.dumps(v) if kinds.get(n) == "json" and v is not None else v for n, v in r.items()]
            for r in by_name(table_rows, self.columns)
        ]
        self._run("DELETE FROM t")
        marks = ", ".join(["?"] * (len(self.columns) + 1))
        self._run(f"INSERT INTO t VALUES ({marks})", values)


def _arrow_kinds():
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "dec": pa.decimal128(18, 4),
        "dec38": pa.decimal128(38, 9),
        "text": pa.string(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "ts": pa.timestamp("us"),
        "ts_ns": pa.timestamp("ns"),
        "tstz": pa.timestamp("us", tz="UTC"),
        "bytes": pa.binary(),
        "uuid": pa.uuid(),
        "json": pa.json_(),
        "ints": pa.list_(pa.int32()),
        "texts": pa.list_(pa.string()),
    }


def arrow_table(table_rows: list[dict], columns: dict):
    """The rows as an Arrow table of the columns' Arrow types (the `type` slot)."""
    import pyarrow as pa

    arrays = {"id": pa.array([r["id"] for r in table_rows], pa.int32())}
    for name, (arrow_type, kind) in columns.items():
        values = [r[kind] for r in table_rows]
        if kind == "uuid":
            storage = pa.array([v and v.bytes for v in values], pa.binary(16))
            arrays[name] = pa.ExtensionArray.from_storage(arrow_type, storage)
        elif kind == "json":
            storage = pa.array([None if v is None else json.dumps(v) for v in values])
            arrays[name] = pa.ExtensionArray.from_storage(arrow_type, storage)
        else:
            arrays[name] = pa.array(values, arrow_type)
    return pa.table(arrays)


PARQUET_COLUMNS = {name: (_arrow_kinds()[kind], kind) for name, (_, kind) in DUCKDB_COLUMNS.items()}


class ParquetFile:
    columns = PARQUET_COLUMNS
    spec = {"object": "t.parquet"}

    def __init__(self, tmp_path, pg_uri, server):
        self.root = tmp_path / "files"
        self.root.mkdir()

    def connection(self) -> dict:
        return {"type": "parquet", "root": str(self.root)}

    def load(self, table_rows: list[dict]) -> None:
        import pyarrow.parquet as pq

        pq.write_table(arrow_table(table_rows, self.columns), self.root / "t.parquet")


# Delta has no time, uuid or json types: what a Delta table holds is strings there
DELTA_COLUMNS = {
    n: (t, k) for n, (t, k) in PARQUET_COLUMNS.items() if k not in ("time", "uuid", "json", "ts_ns")
}


class DeltaTable(ParquetFile):
    columns = DELTA_COLUMNS
    spec = {"object": "t"}

    def connection(self) -> dict:
        return {"type": "delta", "root": str(self.root)}

    def load(self, table_rows: list[dict]) -> None:
        from deltalake import write_deltalake

        table = arrow_table(table_rows, self.columns)
        write_deltalake(str(self.root / "t"), table, mode="overwrite")


SNOWFLAKE_COLUMNS = {
    "c_bool": ("BOOLEAN", "bool"),
    "c_int2": ("SMALLINT", "int16"),
    "order": ("INTEGER", "int32"),
    "c_int8": ("BIGINT", "int64"),
    "c_real": ("FLOAT", "float32"),
    "c_double": ("DOUBLE", "float64"),
    "Prix Net": ("NUMBER(18,4)", "dec"),
    "c_num38": ("NUMBER(38,9)", "dec38"),
    "naïve text": ("VARCHAR", "text"),
    "c_varchar": ("VARCHAR(20)", "varchar"),
    "c_date": ("DATE", "date"),
    "c_time": ("TIME", "time"),
    "c_ts": ("TIMESTAMP_NTZ", "ts"),
    "c_tstz": ("TIMESTAMP_TZ", "tstz"),
    "c_binary": ("BINARY", "bytes"),
    "c_uuid": ("VARCHAR(36)", "uuid"),
    "c_variant": ("VARIANT", "json"),
    "c_ints": ("ARRAY", "ints"),
    "c_texts": ("ARRAY", "texts"),
}


class SnowflakeTable:
    """A table on the fakesnow server, written through the real Snowflake connector."""

    columns = SNOWFLAKE_COLUMNS
    spec = {"schema": "PUBLIC", "object": "t"}
    options = {"skip_unchanged": False}  # fakesnow has no HASH_AGG, the probe's fingerprint

    def __init__(self, tmp_path, pg_uri, server):
        from sync_assets_tests.conftest import snowflake_connection

        self.conn = snowflake_connection(server["snow"])
        ddl = ", ".join(f'"{n}" {t}' for n, (t, _) in self.columns.items())
        self._run(f'CREATE TABLE PUBLIC."t" ("id" INTEGER, {ddl})')

    def _run(self, sql: str, rows=None) -> None:
        import snowflake.connector

        c = self.conn
        con = snowflake.connector.connect(
            account=c["account"],
            user=c["user"],
            password=c["password"],
            database=c["database"],
            schema="PUBLIC",
            **c["additional_snowflake_connection_args"],
        )
        try:
            cur = con.cursor()
            for row in rows or [()]:
                cur.execute(sql, row or None)
        finally:
            con.close()

    def connection(self) -> dict:
        return self.conn

    def load(self, table_rows: list[dict]) -> None:
        self._run('DELETE FROM PUBLIC."t"')
        parsed = ("json", "ints", "texts")
        kinds = [k for _, k in self.columns.values()]
        select = ", ".join(["%s", *("PARSE_JSON(%s)" if k in parsed else "%s" for k in kinds)])
        values = []
        for r in table_rows:
            values.append(
                [r["id"]]
                + [
                    json.dumps(r[k])
                    if k in parsed and r[k] is not None
                    else str(r[k])
                    if k == "uuid" and r[k] is not None
                    else r[k]
                    for k in kinds
                ]
            )
        self._run(f'INSERT INTO PUBLIC."t" SELECT {select}', values)


SOURCES = {
    "postgres": PostgresTable,
    "odbc": OdbcTable,
    "duckdb": DuckDBTable,
    "parquet": ParquetFile,
    "delta": DeltaTable,
    "snowflake": SnowflakeTable,
}


# --------------------------------------------------------------------------- the matrix


def spark_name(name: str) -> str:
    return "".join("_" if c in " ,;{}()\n\t=" else c for c in name)


def _spark_safe(kind: str, columns: dict) -> dict:
    """The OneLake target refuses names Spark cannot read (spaces): rename them there."""
    if kind != "onelake":
        return {}
    return {"column_mappings": {f'"{n}"': spark_name(n) for n in ["id", *columns]}}


def _targets(request, tmp_path) -> dict[str, dict]:
    server = request.getfixturevalue("pg_server")
    emulator = request.getfixturevalue("azurite")
    snow = request.getfixturevalue("fakesnow_server")
    return {k: target_connection(k, tmp_path, server, emulator, snow) for k in TARGET_KINDS}


@pytest.mark.parametrize("source_kind", list(SOURCES))
def test_every_type_lands_exactly_in_every_target(request, tmp_path, pg_uri, source_kind):
    targets = _targets(request, tmp_path)
    servers = {"snow": request.getfixturevalue("fakesnow_server")}
    source = SOURCES[source_kind](tmp_path, pg_uri, servers)
    objects = [
        {
            "object_id": f"to_{kind}",
            "source": {"connection": "src", **source.spec},
            "target": {"connection": kind, "object": "t"},
            "sync_type": "merge",
            "merge_keys": ["id"],
            **getattr(source, "options", {}),
            **_spark_safe(kind, source.columns),
        }
        for kind in TARGET_KINDS
    ]
    project = Project(tmp_path, {"src": source.connection(), **targets}, objects)
    columns = {n: k for n, (_, k) in source.columns.items()}
    for run in (1, 2):
        source.load(rows(run))
        project.materialize_all()
        want = canonical_rows(by_name(rows(run), source.columns), columns)
        for kind in TARGET_KINDS:
            table_rows = project.target_table(f"to_{kind}").to_pylist()
            if kind == "onelake":  # synced under Spark-safe names
                table_rows = [{n: r[spark_name(n)] for n in ["id", *columns]} for r in table_rows]
            got = canonical_rows(table_rows, columns)
            for key in want:
                for name in columns:
                    assert got[key][name] == want[key][name], (
                        f"{source_kind} -> {kind}, run {run}, id {key}, column {name!r}: "
                        f"{got[key][name]!r} != {want[key][name]!r}"
                    )
            assert set(got) == set(want)
    check_type_table(source_kind, source, project)


# --------------------------------------------------------------------------- README tables

README = Path(__file__).resolve().parents[1] / "README.md"
LABELS = {
    "postgres": "PostgreSQL",
    "odbc": "PostgreSQL through ODBC (psqlODBC, the local stand-in for T-SQL sources)",
    "duckdb": "DuckDB",
    "parquet": "Parquet",
    "delta": "Delta",
    "snowflake": "Snowflake",
}
HEADER = [
    "Arrow",
    "DuckDB",
    "PostgreSQL",
    "Delta, OneLake",
    "Parquet",
    "T-SQL DDL",
    "Snowflake DDL",
]


def source_schema(project: Project, object_id: str):
    """The Arrow schema the source reports for the object's relation."""
    from sync_assets.config.loader import load_project
    from sync_assets.connection_types import make_source

    loaded = load_project(project.configs)
    obj = next(o for o in loaded.sync_objects if o.object_id == object_id)
    source = make_source(loaded.connections[obj.source.connection], str(project.root))
    with source.session(obj.source) as session:
        return session.schema(f"SELECT * FROM {source.relation(obj.source)}")


def type_rows(source, project: Project) -> list[list[str]]:
    """One row per source column type: its Arrow type and each target's column type (the
    catalog's own spelling where a target runs here; the DDL created on T-SQL / Snowflake)."""
    from sync_assets.snowflake import types as snowflake_types
    from sync_assets.sql.flavors import SQLSERVER
    from sync_assets.tsql import types as tsql_types
    from sync_assets.types import field_max_length

    schema = source_schema(project, "to_duckdb")
    caught = {k: project.target(f"to_{k}").describe()["sql_types"] for k in TARGET_KINDS}
    assert caught["onelake"] == {spark_name(n): t for n, t in caught["delta"].items()}
    table = []
    for name, (declared, _) in source.columns.items():
        field = schema.field(name)
        length = field_max_length(field)
        snowflake_ddl = snowflake_types.column_type(field.type, length)[0]
        if snowflake_ddl == "VARIANT":  # created as such (the catalog spells text as TEXT)
            assert caught["snowflake"][name] == "VARIANT", (name, caught["snowflake"][name])
        row = [
            f"`{declared}`",
            str(field.type),
            *(caught[k][name] for k in ("duckdb", "postgres", "delta", "parquet")),
            tsql_types.column_type(field.type, SQLSERVER, length)[0],
            snowflake_types.column_type(field.type, length)[0],
        ]
        if row not in table:
            table.append(row)
    return table


def markdown(label: str, table: list[list[str]]) -> str:
    lines = [f"#### From {label}", "", "| " + " | ".join([label.split(" ")[0], *HEADER]) + " |"]
    lines.append("|" + "---|" * (len(HEADER) + 1))
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines) + "\n"


def check_type_table(source_kind: str, source, project: Project) -> None:
    """The README's table for this source is what the run produced (SYNC_ASSETS_UPDATE_GOLDEN=1
    rewrites it)."""
    import os
    import re

    label = LABELS[source_kind]
    want = markdown(label, type_rows(source, project))
    text = README.read_text()
    pattern = re.compile(rf"#### From {re.escape(label)}\n.*?(?=\n\n|\Z)", re.S)
    if os.environ.get("SYNC_ASSETS_UPDATE_GOLDEN"):
        if pattern.search(text):
            text = pattern.sub(lambda _: want.rstrip("\n"), text)
        else:
            marker = "<!-- /type tables -->"
            text = text.replace(marker, f"{want}\n{marker}")
        README.write_text(text)
        return
    found = pattern.search(text)
    assert found, f"README.md has no table '#### From {label}'"
    assert found.group(0) + "\n" == want, f"README's table for {label} differs:\n{want}"


def test_snowflake_varchar_lengths_and_variants_from_the_description():
    """fakesnow describes every VARCHAR as 16 MB; Snowflake gives the declared length, which a
    Snowflake / PostgreSQL target keeps; VARIANT, OBJECT and ARRAY are JSON."""
    import pyarrow as pa
    from snowflake.connector.cursor import ResultMetadata

    from sync_assets.snowflake.source import described_schema
    from sync_assets.types import field_max_length

    def meta(name, code, size):
        return ResultMetadata(name, code, None, size, None, None, True)

    # type codes: 2 TEXT, 5 VARIANT, 9 OBJECT, 10 ARRAY
    schema = described_schema(
        [
            meta("a", 2, 20),
            meta("b", 2, 16_777_216),
            meta("v", 5, None),
            meta("o", 9, None),
            meta("r", 10, None),
        ]
    )
    assert [field_max_length(f) for f in schema][:2] == [20, None]
    assert [schema.field(n).type for n in "vor"] == [pa.json_()] * 3


# --------------------------------------------------------------------------- T-SQL sources
# No SQL Server runs here: the T-SQL source's type table is its description mapping
# (sp_describe_first_result_set -> Arrow, `sources/odbc.py`), golden, with the DDL each
# target creates for it; every CREATE TABLE parses in sqlglot.

TSQL_TYPES = [
    "bit", "tinyint", "smallint", "int", "bigint", "real", "float", "decimal(18,4)",
    "decimal(38,9)", "numeric(10,0)", "money", "smallmoney", "nvarchar(20)", "nvarchar(max)",
    "varchar(50)", "varchar(max)", "nchar(3)", "char(3)", "date", "time(7)", "datetime2(7)",
    "datetime2(3)", "datetime", "smalldatetime", "datetimeoffset(7)", "varbinary(max)",
    "binary(16)", "uniqueidentifier", "xml",
]  # fmt: skip


def test_tsql_source_types_and_ddl_are_golden_and_parse():
    import os

    import sqlglot

    from sync_assets.snowflake import types as snowflake_types
    from sync_assets.snowflake.flavor import SNOWFLAKE
    from sync_assets.sources.odbc import tsql_field
    from sync_assets.sql.flavors import FLAVORS, POSTGRES
    from sync_assets.sql.statements import create_table_sql
    from sync_assets.tsql import types as tsql_types
    from sync_assets.types import duckdb_type, field_max_length, postgres_type

    flavors = ["sqlserver", "synapse", "fabric_warehouse"]
    lines = ["| T-SQL | Arrow | " + " | ".join(flavors) + " | Snowflake | DuckDB | PostgreSQL |"]
    lines.append("|" + "---|" * (len(flavors) + 5))
    fields = [tsql_field(f"c{i}", name) for i, name in enumerate(TSQL_TYPES)]
    for name, field in zip(TSQL_TYPES, fields, strict=True):
        n = field_max_length(field)
        ddl = [tsql_types.column_type(field.type, FLAVORS[f], n)[0] for f in flavors]
        lines.append(
            f"| {name} | {field.type} | " + " | ".join(ddl) + f" | "
            f"{snowflake_types.column_type(field.type, n)[0]} | {duckdb_type(field.type)} | "
            f"{postgres_type(field.type, n)} |"
        )
    text = "\n".join(lines) + "\n"
    path = Path(__file__).parent / "golden" / "tsql_source_types.md"
    block = f"<!-- tsql types -->\n{text}<!-- /tsql types -->"
    readme = README.read_text()
    if os.environ.get("SYNC_ASSETS_UPDATE_GOLDEN"):
        path.write_text(text)
        start, end = readme.index("<!-- tsql types -->"), readme.index("<!-- /tsql types -->")
        README.write_text(readme[:start] + block + readme[end + len("<!-- /tsql types -->") :])
    assert text == path.read_text()
    assert block in README.read_text(), "README's T-SQL type table differs from the golden one"
    # every type of every source, as CREATE TABLE on the T-SQL flavors and Snowflake, parses
    arrow_fields = fields + [pa.field(f"a{i}", t) for i, t in enumerate(_arrow_kinds().values())]
    arrow_fields += [
        pa.field("iv", pa.month_day_nano_interval()),
        pa.field("w", pa.decimal256(50, 10)),
    ]
    for flavor, column_type, dialect in [
        *(
            (FLAVORS[f], lambda t, f=f: tsql_types.column_type(t, FLAVORS[f])[0], "tsql")
            for f in flavors
        ),
        (SNOWFLAKE, lambda t: snowflake_types.column_type(t)[0], "snowflake"),
        (POSTGRES, postgres_type, "postgres"),
    ]:
        columns = [(f.name, column_type(f.type)) for f in arrow_fields]
        statement = create_table_sql('"s"."t"' if dialect != "tsql" else "[s].[t]", columns, flavor)
        sqlglot.parse_one(statement, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)


def test_a_name_spark_cannot_read_is_refused_on_onelake(tmp_path, azurite):
    """Fabric reads lakehouse tables with Spark, which refuses spaces (and ` ,;{}()=`) in
    column names of tables without column mapping: a clear error, nothing written."""
    from sync_assets_tests.conftest import onelake_connection
    from sync_assets_tests.harness import duck

    source = tmp_path / "s.duckdb"
    duck(source, 'CREATE TABLE t AS SELECT 1 AS id, 2 AS "Prix Net"')
    spec = {
        "object_id": "t",
        "source": {"connection": "src", "schema": "main", "object": "t"},
        "target": {"connection": "lake", "object": "t"},
        "sync_type": "full",
    }
    connections = {
        "src": {"type": "duckdb", "path": str(source)},
        "lake": onelake_connection(azurite),
    }
    project = Project(tmp_path, connections, [spec])
    with pytest.raises(
        Exception, match=r"column 'Prix Net' has ' ', which Spark and Fabric do not allow"
    ):
        project.materialize("t")
    assert project.target("t").describe()["row_count"] is None


def test_tsql_seventh_digit_is_read_as_text_and_refused_unless_zero():
    """DATETIME2(7) / TIME(7) / DATETIMEOFFSET(7): pyodbc would drop the 100-ns digit; the
    columns are read as text, parsed to microseconds, and a value whose seventh digit is not
    0 is refused naming it (no SQL Server here: the SQL and the parsing, on the text
    SQL Server's CONVERT styles give)."""
    import datetime as dt

    from sync_assets.sources.odbc import tsql_field
    from sync_assets.tsql import seven_digits

    schema = pa.schema(
        [
            pa.field("id", pa.int32()),
            tsql_field("d", "datetime2(7)"),
            tsql_field("t", "time(7)"),
            tsql_field("o", "datetimeoffset(7)"),
            tsql_field("x", "datetime2(3)"),
        ]
    )
    assert seven_digits.readable_sql("SELECT * FROM [dbo].[t]", schema) == (
        "SELECT [id], CONVERT(VARCHAR(27), [d], 121) AS [d], CONVERT(VARCHAR(16), [t]) AS [t], "
        "CONVERT(VARCHAR(27), CAST(SWITCHOFFSET([o], '+00:00') AS DATETIME2(7)), 121) AS [o], "
        "[x] FROM (SELECT * FROM [dbo].[t]) AS q"
    )
    texts = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int32()),
            "d": ["0001-01-01 00:00:00.1234560", "9999-12-31 23:59:59.9999999"],
            "t": ["23:59:59.9999990", None],
            "o": ["2024-01-01 10:00:00.0000000", None],
            "x": pa.array([0, 1], pa.timestamp("ms")),
        },
        schema=seven_digits.text_schema(schema),
    )
    with pytest.raises(
        seven_digits.SevenDigitError,
        match=r"column 'd' holds 9999-12-31 "
        r"23:59:59.9999999 \(the row with id = 2\), which the sync cannot carry",
    ):
        seven_digits.parsed_batch(texts, schema)
    row = seven_digits.parsed_batch(texts.slice(0, 1), schema).to_pylist()[0]
    assert row["d"] == dt.datetime(1, 1, 1, 0, 0, 0, 123456)
    assert row["t"] == dt.time(23, 59, 59, 999999)
    assert row["o"] == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)


def test_snowflake_variant_columns_are_parsed_from_their_staged_text():
    from sync_assets.snowflake.flavor import SNOWFLAKE
    from sync_assets.sql.statements import insert_select_sql, staged

    assert staged("s", "j", SNOWFLAKE, {"j": "VARIANT"}) == 'PARSE_JSON(s."j")'
    assert staged("s", "n", SNOWFLAKE, {"j": "VARIANT"}) == 's."n"'
    statement = insert_select_sql('"a"."t"', '"a"."stage"', ["n", "j"], SNOWFLAKE, {"j": "VARIANT"})
    assert 'PARSE_JSON(s."j")' in statement


def test_intervals_as_iso_8601_text():
    from sync_assets.types import interval_text

    hours = 3_600_000_000_000
    values = pa.array(
        [
            pa.MonthDayNano([14, 3, 4 * hours + 5 * 60_000_000_000 + 6_500_000_000]),
            pa.MonthDayNano([-14, -3, -6_000_000_007]),
            pa.MonthDayNano([0, 0, 0]),
            None,
            pa.MonthDayNano([0, 0, -500_000_000]),
        ],
        pa.month_day_nano_interval(),
    )
    assert interval_text(values).to_pylist() == [
        "P1Y2M3DT4H5M6.5S", "P-1Y-2M-3DT-6.000000007S", "PT0S", None, "PT-0.5S",
    ]  # fmt: skip
