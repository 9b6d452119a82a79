"""Pure functions: SQL builders, literals, type mapping, state, redaction."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot

from sync_assets.secrets import redact
from sync_assets.sql import statements
from sync_assets.sql.flavors import DELTA, DUCKDB, POSTGRES, SQLSERVER
from sync_assets.sql.literals import literal
from sync_assets.sql.select import Bounds, probe_sql, select_sql, window_bounds
from sync_assets.state import SyncState
from sync_assets.targets.base import TargetWindow
from sync_assets.targets.parquet import partition_key_sql
from sync_assets.types import (
    SchemaChangeError,
    delta_type,
    duckdb_type,
    evolve,
    lossless,
    postgres_type,
)

UTC = dt.UTC
START, END = dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "arrow_type, dialect, expected",
    [
        (
            pa.timestamp("us", tz="UTC"),
            "duckdb",
            "CAST('2025-03-01 00:00:00+00:00' AS TIMESTAMPTZ)",
        ),
        (pa.timestamp("us", tz="UTC"), "delta", "'2025-03-01 00:00:00+00:00'"),
        (pa.timestamp("us"), "postgres", "CAST('2025-03-01 00:00:00' AS TIMESTAMP)"),
        (pa.date32(), "postgres", "CAST('2025-03-01' AS DATE)"),
        (pa.string(), "duckdb", "'2025-03-01 00:00:00+00:00'"),
    ],
)
def test_literals(arrow_type, dialect, expected):
    assert literal(START, arrow_type, dialect) == expected


def test_literal_escapes_quotes():
    assert literal("o'brien", pa.string(), "postgres") == "'o''brien'"


def test_window_is_half_open_and_watermark_is_left_open():
    window = window_bounds("day", pa.date32(), START, END, None)
    assert (
        window.predicate("duckdb")
        == "\"day\" >= CAST('2025-03-01' AS DATE) AND \"day\" < CAST('2025-03-02' AS DATE)"
    )
    mark = Bounds("id", pa.int64(), 10, 20)
    assert mark.predicate("postgres") == '"id" > 10 AND "id" <= 20'
    first = Bounds("id", pa.int64(), None, 20, include_nulls=True)
    assert first.predicate("postgres") == '("id" <= 20 OR "id" IS NULL)'


def test_string_window_uses_format():
    window = window_bounds("d", pa.string(), START, END, "%Y%m%d")
    assert window.predicate("duckdb") == "\"d\" >= '20250301' AND \"d\" < '20250302'"


def test_select_and_probe_parse_in_their_dialects():
    sql = select_sql(
        '"main"."t"',
        {"id": "key", "upper(name)": "name"},
        "status <> 'x'",
        [Bounds("id", pa.int64(), 1, 9)],
        "postgres",
    )
    assert (
        sql
        == 'SELECT id AS "key", upper(name) AS "name" FROM "main"."t" WHERE (status <> \'x\') AND "id" > 1 AND "id" <= 9'
    )
    for dialect in ("postgres", "duckdb"):
        sqlglot.parse_one(probe_sql(sql, "id", dialect, fingerprint=True), read=dialect)


def test_staged_values_are_cast_to_the_column_type_except_length_limited_text():
    """Engines that stage the stream's own Arrow types (DuckDB, PostgreSQL through COPY) cast
    staged values in the statements; a CAST to varchar(n) would truncate silently."""
    casts = {"id": "bigint", "v": "jsonb", "code": "character varying(3)"}
    sql = statements.merge_counts_sql(
        '"s"."t"', "stg", ["id", "v", "code"], ["id"], POSTGRES, update=True, casts=casts
    )
    assert '(t."v", t."code") IS DISTINCT FROM (CAST(s."v" AS jsonb), s."code")' in sql
    insert = statements.insert_select_sql('"t"', "stg", ["id", "code"], DUCKDB, casts)
    assert (
        insert
        == 'INSERT INTO "t" ("id", "code") SELECT CAST(s."id" AS bigint), s."code" FROM stg AS s'
    )


def test_differs_and_key_match_are_one_helper_for_every_engine():
    cols = ["a", "b"]
    assert (
        statements.key_match(["k1", "k2"], "t", "s", SQLSERVER)
        == "t.[k1] = s.[k1] AND t.[k2] = s.[k2]"
    )
    assert statements.differs("t", "s", cols, SQLSERVER).startswith(
        "NOT EXISTS (SELECT t.[a], t.[b] INTERSECT"
    )
    assert (
        statements.differs("t", "s", cols, POSTGRES)
        == '(t."a", t."b") IS DISTINCT FROM (s."a", s."b")'
    )
    # DataFusion binds OR tighter than IS DISTINCT FROM: every comparison in parentheses;
    # a column the old files lack differs wherever the new row has a value
    assert (
        statements.differs("t", "s", cols, DELTA, known={"a"})
        == '((t."a" IS DISTINCT FROM s."a") OR (s."b" IS NOT NULL))'
    )
    assert statements.differs("t", "s", [], DELTA) == "FALSE"


def test_statements_parse_as_postgres_and_duckdb():
    """Every statement the writer runs on PostgreSQL and DuckDB (the golden scripts) parses in
    that dialect; the catalog query carries `?` binds, which sqlglot reads as parameters."""
    from sync_assets_tests.tsql_script import script

    for flavor, dialect in ((POSTGRES, "postgres"), (DUCKDB, "duckdb")):
        for label, sql in script(flavor):
            assert sqlglot.parse_one(sql, read=dialect) is not None, label


@pytest.mark.parametrize(
    "arrow_type, duck, pg, delta",
    [
        (pa.decimal128(12, 2), "DECIMAL(12,2)", "numeric(12,2)", pa.decimal128(12, 2)),
        (
            pa.timestamp("ns", tz="Europe/Amsterdam"),
            "TIMESTAMPTZ",
            "timestamptz",
            pa.timestamp("us", tz="UTC"),
        ),
        (pa.timestamp("ms"), "TIMESTAMP", "timestamp", pa.timestamp("us")),
        (pa.bool_(), "BOOLEAN", "boolean", pa.bool_()),
        (pa.large_string(), "VARCHAR", "text", pa.string()),
        (pa.binary(), "BLOB", "bytea", pa.binary()),
        (pa.uint64(), "UBIGINT", "numeric(20,0)", pa.decimal128(20, 0)),
        (pa.list_(pa.int32()), "INTEGER[]", "integer[]", pa.list_(pa.int32())),
        (pa.list_(pa.list_(pa.int32())), "INTEGER[][]", "jsonb", pa.list_(pa.list_(pa.int32()))),
        (pa.uuid(), "UUID", "uuid", pa.string()),
        (pa.json_(), "JSON", "jsonb", pa.string()),
        (
            pa.struct([("a", pa.string())]),
            'STRUCT("a" VARCHAR)',
            "jsonb",
            pa.struct([("a", pa.string())]),
        ),
        (pa.time64("us"), "TIME", "time", pa.string()),
    ],
)
def test_type_mapping(arrow_type, duck, pg, delta):
    assert duckdb_type(arrow_type) == duck
    assert postgres_type(arrow_type) == pg
    assert delta_type(arrow_type) == delta


@pytest.mark.parametrize(
    "src, dst, ok",
    [
        (pa.int32(), pa.int64(), True),
        (pa.int64(), pa.int32(), False),
        (pa.uint32(), pa.int64(), True),
        (pa.decimal128(10, 2), pa.decimal128(12, 2), True),
        (pa.decimal128(12, 4), pa.decimal128(12, 2), False),
        (pa.float64(), pa.float32(), False),
        (pa.string(), pa.int64(), False),
        (pa.int32(), pa.float64(), True),
        (pa.timestamp("us"), pa.timestamp("us", tz="UTC"), False),
        (pa.date32(), pa.date64(), True),
    ],
)
def test_lossless(src, dst, ok):
    assert lossless(src, dst) is ok


def test_evolve_adds_columns_and_refuses_lossy_changes():
    existing = pa.schema([("id", pa.int64()), ("v", pa.decimal128(12, 2))])
    schema, added = evolve(
        existing,
        pa.schema([("id", pa.int32()), ("v", pa.decimal128(12, 2)), ("new", pa.string())]),
        "t",
    )
    assert [f.name for f in added] == ["new"] and schema.field("id").type == pa.int64()
    with pytest.raises(
        SchemaChangeError, match="column 'v' changed from decimal128\\(12, 2\\) to string"
    ):
        evolve(existing, pa.schema([("id", pa.int64()), ("v", pa.string())]), "t")


def test_weekly_partition_key_starts_on_sunday():
    import duckdb

    window = TargetWindow("ts", START, END, ("2025-03-02",), "weekly")
    sql = partition_key_sql("ts", pa.timestamp("us"), window)
    keys = duckdb.sql(
        f"SELECT {sql} FROM (SELECT TIMESTAMP '2025-03-08 23:00' AS ts UNION ALL SELECT TIMESTAMP '2025-03-09 01:00')"
    ).fetchall()
    assert sorted(k[0] for k in keys) == ["2025-03-02", "2025-03-09"]


def test_state_fingerprints_replace_overlapping_windows():
    state = SyncState().with_fingerprint(START, END + dt.timedelta(days=9), "range", 10)
    state = state.with_fingerprint(START, END, "one-day", 1)
    assert state.fingerprint_for(START, END)["fingerprint"] == "one-day"
    assert state.fingerprint_for(START, END + dt.timedelta(days=9)) is None  # stale range dropped


def test_redact():
    assert redact("postgresql://u:hunter2@h/db failed") == "postgresql://u:***@h/db failed"
    assert redact("DRIVER=x;PWD=abc;UID=u") == "DRIVER=x;PWD=***;UID=u"
    assert redact("token is zz-top", ["zz-top"]) == "token is ***"
