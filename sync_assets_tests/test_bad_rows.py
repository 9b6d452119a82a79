"""Values a target's types cannot hold: the sync fails naming the object, the column, the
value and an example key, with nothing written; or, with `on_bad_rows: quarantine`, those
rows go to a rejects file and the rest is applied. (Issue: type fidelity.)"""

from __future__ import annotations

import json
import math

import psycopg
import pyarrow as pa
import pytest

from sync_assets.bad_rows import Limits, target_problems
from sync_assets_tests.harness import Project, duck

ROWS = (
    "(1, 'plain', TIMESTAMP '2025-01-01 00:00:00', 1.5), "
    "(2, 'a' || chr(0) || 'b', TIMESTAMP '2025-01-02 00:00:00', 2.5), "
    "(3, 'fine', TIMESTAMP '10000-01-01 00:00:00', 3.5), "
    "(4, 'last', NULL, 'NaN'::DOUBLE)"
)


def duck_project(tmp_path, target: dict, **obj) -> Project:
    source = tmp_path / "src.duckdb"
    duck(source, "CREATE TABLE t (id INTEGER, s VARCHAR, ts TIMESTAMP, f DOUBLE)")
    duck(source, f"INSERT INTO t VALUES {ROWS}")
    spec = {
        "object_id": "t",
        "source": {"connection": "src", "schema": "main", "object": "t"},
        "target": {"connection": "tgt", "object": "t"},
        "sync_type": "merge",
        "merge_keys": ["id"],
        **obj,
    }
    return Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(source)}, "tgt": target}, [spec]
    )


@pytest.mark.parametrize(
    "kind, message",
    [
        (
            "postgres",
            r"column 's' holds a NUL character in 'a\\x00b' \(the row with id = 2\), which "
            r"PostgreSQL text cannot hold; strip it",
        ),
        (
            "odbc",
            r"column 's' holds a NUL character in 'a\\x00b' \(the row with id = 2\)",
        ),
        (
            "snowflake",
            r"column 'ts' holds a value in the year 10000 \(the row with id = 3\), which "
            r"Snowflake dates and timestamps hold the years 1-9999 only",
        ),
    ],
)
def test_values_the_target_cannot_hold_fail_naming_column_and_key(tmp_path, request, kind, message):
    from sync_assets_tests.conftest import target_connection

    server = request.getfixturevalue("pg_server") if kind != "snowflake" else None
    snow = request.getfixturevalue("fakesnow_server") if kind == "snowflake" else None
    project = duck_project(tmp_path, target_connection(kind, tmp_path, server, None, snow))
    with pytest.raises(Exception, match=r"object_id 't': a value does not fit the target") as err:
        project.materialize("t")
    assert __import__("re").search(message, str(err.value)), str(err.value)
    # nothing written (Snowflake commits DDL at once: the new table stays, empty)
    assert project.target("t").describe()["row_count"] == (0 if kind == "snowflake" else None)


def test_tsql_limits_refuse_nan_infinity_and_years_past_9999():
    """T-SQL FLOAT has no NaN / ±Infinity and DATETIME2 stops at 9999 (no SQL Server runs
    here: the limits the T-SQL target declares, applied to a batch)."""
    from sync_assets.config.models import TsqlConnection
    from sync_assets.targets.odbc import OdbcTarget

    conn = TsqlConnection(type="tsql", server="h", database="d", user="u", password="p")
    limits = OdbcTarget(conn, ".", "t", "dbo", "t").type_limits()
    assert limits == Limits("SQL Server", special_floats=False, years=(1, 9999), nanoseconds=False)
    batch = pa.record_batch(
        {
            "id": [1, 2, 3],
            "f": [1.0, math.nan, -math.inf],
            "d": pa.array([0, 2932897, -719162], pa.date32()),  # 1970, 10000-01-01, 0001-01-01
        }
    )
    problems = {p.column: p for p in target_problems(batch, limits)}
    assert problems["f"].mask.to_pylist() == [False, True, True]
    assert problems["d"].mask.to_pylist() == [False, True, False]
    assert problems["f"].value(1) == "NaN" and problems["f"].value(2) == "-inf"


def test_quarantine_applies_the_rest_and_writes_the_rejects(tmp_path, pg_server):
    from sync_assets_tests.conftest import odbc_connection

    target = odbc_connection(pg_server.create_database("q1"))
    project = duck_project(tmp_path, target, on_bad_rows="quarantine")
    meta = project.materialize("t")
    got = project.target_table("t").to_pylist()
    assert sorted(r["id"] for r in got) == [1, 4]  # NaN fits PostgreSQL's double precision
    assert meta["sync/rows_rejected"] == 2
    rejects = [json.loads(line) for line in open(meta["sync/rejects_path"], encoding="utf-8")]
    assert [(r["key"], r["column"]) for r in rejects] == [("id = 2", "s"), ("id = 3", "ts")]
    assert rejects[1]["row"]["ts"] == "10000-01-01 00:00:00.000000"
    assert "PostgreSQL dates and timestamps hold the years 1-9999 only" in rejects[1]["reason"]
    # a rerun finds the same rows again and leaves the target as it was
    again = project.materialize("t")
    assert again["sync/rows_rejected"] == 2
    assert sorted(r["id"] for r in project.target_table("t").to_pylist()) == [1, 4]
    assert len(list((tmp_path / "rejects" / "t").glob("*.jsonl"))) == 2
    assert not list((tmp_path / "rejects" / "t").glob(".*"))  # no partial files left


def test_quarantine_of_source_values_no_target_holds(tmp_path, pg_uri):
    """A PostgreSQL NaN numeric is quarantined at the read; the other rows land."""
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("CREATE TABLE t (id int PRIMARY KEY, v numeric(10,2), at timestamptz)")
        con.execute(
            "INSERT INTO t VALUES (1, 1.5, now()), (2, 'NaN', now()), (3, 2.5, 'infinity'), "
            "(4, NULL, NULL)"
        )
    spec = {
        "object_id": "t",
        "source": {"connection": "pg", "schema": "public", "object": "t"},
        "target": {"connection": "tgt", "object": "t"},
        "sync_type": "full",
        "merge_keys": ["id"],
        "on_bad_rows": "quarantine",
    }
    target = {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}
    project = Project(tmp_path, {"pg": {"type": "postgres", "dsn": pg_uri}, "tgt": target}, [spec])
    meta = project.materialize("t")
    assert sorted(r["id"] for r in project.target_table("t").to_pylist()) == [1, 4]
    rejects = [json.loads(line) for line in open(meta["sync/rejects_path"], encoding="utf-8")]
    assert [(r["key"], r["column"]) for r in rejects] == [("id = 2", "v"), ("id = 3", "at")]
    assert rejects[0]["reason"].startswith("holds NaN, which no target's DECIMAL(10,2) can hold")
    assert rejects[0]["row"]["v"].lower() == "nan"  # the driver's spelling


@pytest.mark.parametrize("kind", ["delta", "postgres", "snowflake"])
def test_nanoseconds_a_target_keeps_as_microseconds_are_refused(tmp_path, request, kind):
    """DuckDB TIMESTAMP_NS into targets that keep microseconds: refused naming the value
    (the PostgreSQL driver and DuckDB would have truncated it)."""
    from sync_assets_tests.conftest import target_connection

    server = request.getfixturevalue("pg_server") if kind == "postgres" else None
    snow = request.getfixturevalue("fakesnow_server") if kind == "snowflake" else None
    source = tmp_path / "ns.duckdb"
    duck(
        source,
        "CREATE TABLE t AS SELECT 1 AS id, TIMESTAMP_NS '2020-01-01 00:00:00.123456789' AS ts",
    )
    spec = {
        "object_id": "t",
        "source": {"connection": "src", "schema": "main", "object": "t"},
        "target": {"connection": "tgt", "object": "t"},
        "sync_type": "full",
    }
    target = target_connection(kind, tmp_path, server, None, snow)
    project = Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(source)}, "tgt": target}, [spec]
    )
    label = {"delta": "Delta", "postgres": "PostgreSQL", "snowflake": "Snowflake"}[kind]
    with pytest.raises(Exception, match=r"a value does not fit the target") as err:
        project.materialize("t")
    assert (
        f"column 'ts' holds 2020-01-01 00:00:00.123456789 (the row with id = 1), which {label} "
        "timestamps and times (microseconds) cannot hold; round it" in str(err.value)
    ), str(err.value)


def test_cast_that_does_not_fit_names_column_value_and_row():
    """The last line of defence (a value no limit caught): the safe cast names it."""
    from sync_assets.types import ValueFitError, cast_batch

    batch = pa.record_batch({"id": [1, 2], "n": pa.array([1, 300], pa.int32())})
    with pytest.raises(ValueFitError, match=r"column 'n' holds 300 \(the row with id = 2\)"):
        cast_batch(batch, pa.schema([("id", pa.int32()), ("n", pa.int8())]))


@pytest.mark.parametrize("kind", ["postgres", "odbc"])
def test_text_longer_than_an_existing_column_is_refused(tmp_path, pg_server, kind):
    """A target table made by hand with varchar(5): a longer value fails naming it (the
    server's own error named neither the column nor the row)."""
    from sync_assets_tests.conftest import odbc_connection

    uri = pg_server.create_database(f"len_{kind}")
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute("CREATE TABLE t (id integer, s varchar(5))")
    source = tmp_path / "l.duckdb"
    duck(
        source,
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'short'), (2, 'much too long')) v(id, s)",
    )
    spec = {
        "object_id": "t",
        "source": {"connection": "src", "schema": "main", "object": "t"},
        "target": {"connection": "tgt", "schema": "public", "object": "t"},
        "sync_type": "full",
    }
    target = {"type": "postgres", "dsn": uri} if kind == "postgres" else odbc_connection(uri)
    project = Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(source)}, "tgt": target}, [spec]
    )
    with pytest.raises(Exception, match=r"a value does not fit the target") as err:
        project.materialize("t")
    assert (
        "column 's' holds a text of length 13 ('much too long'…) (the row with id = 2), which "
        in str(err.value)
    )
    assert "character varying(5) cannot hold" in str(err.value).lower()
    project.update_object("t", on_bad_rows="quarantine")
    meta = project.materialize("t")
    assert meta["sync/rows_rejected"] == 1
    assert [r["id"] for r in project.target_table("t").to_pylist()] == [1]


def test_text_lengths_count_as_each_engine_does():
    from sync_assets.bad_rows import text_length

    column = pa.array(["a🌍", "ü", None])
    assert text_length(column, "characters").to_pylist() == [2, 1, None]
    assert text_length(column, "utf16").to_pylist() == [3, 1, None]  # NVARCHAR: two units
    assert text_length(column, "bytes").to_pylist() == [5, 2, None]
