"""PostgreSQL values that no target type holds exactly fail the read with the column, the
value and the row named, and leave the target unchanged; values the driver would hand over
in a lossy form (money in cents, inet / timetz / xml as wire bytes) arrive exact.
(Issue: type fidelity — the findings with NaN, infinity and unconstrained numerics.)"""

from __future__ import annotations

import decimal

import duckdb
import psycopg
import pytest

from sync_assets_tests.harness import Project


def pg_project(tmp_path, pg_uri, target, ddl: str, insert: str, **obj) -> Project:
    """Table `t` (id int PRIMARY KEY, <ddl>) filled by `insert`, and a project syncing it
    from PostgreSQL into the connection `target` as object `t`."""
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute(f"CREATE TABLE t (id int PRIMARY KEY, {ddl})")
        con.execute(insert)
    spec = {
        "object_id": "t",
        "source": {"connection": "pg", "schema": "public", "object": "t"},
        "target": {"connection": "tgt", "object": "t"},
        "sync_type": "full",
        **obj,
    }
    connections = {"pg": {"type": "postgres", "dsn": pg_uri}, "tgt": target}
    return Project(tmp_path, connections, [spec])


def pg_to_duckdb(tmp_path, pg_uri, ddl: str, rows: str) -> Project:
    # the bad row is not in the first batch
    target = {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}
    return pg_project(tmp_path, pg_uri, target, ddl, f"INSERT INTO t VALUES {rows}", batch_size=2)


def target_exists(tmp_path) -> bool:
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        query = "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"
        return con.execute(query).fetchone()[0] == 1
    finally:
        con.close()


@pytest.mark.parametrize(
    "ddl, bad, message",
    [
        ("v numeric", "'NaN'", r"column 'v' holds NaN \(the row with id = 3\)"),
        (
            "v numeric(10,2)",
            "'NaN'",
            r"column 'v' holds NaN \(the row with id = 3\), which no target's DECIMAL\(10,2\)",
        ),
        (
            "v numeric",
            "1/3::numeric",
            r"column 'v' holds 0.33333333333333333333 \(the row with id = 3\), which does not "
            r"fit DECIMAL\(38,9\) \(unconstrained numeric columns are read as DECIMAL\(38,9\)\)",
        ),
        (
            "v timestamptz",
            "'infinity'",
            r"column 'v' holds PostgreSQL 'infinity' \(the row with id = 3\)",
        ),
        (
            "v timestamp",
            "'-infinity'",
            r"column 'v' holds PostgreSQL '-infinity' \(the row with id = 3\)",
        ),
        ("v date", "'infinity'", r"column 'v' holds PostgreSQL 'infinity' \(the row with id = 3\)"),
    ],
    ids=["nan", "nan_scaled", "one_third", "infinity", "minus_infinity", "date_infinity"],
)
def test_values_no_target_holds_fail_the_read_clearly(tmp_path, pg_uri, ddl, bad, message):
    good = "1.5" if "numeric" in ddl else "'2025-01-01'"
    project = pg_to_duckdb(tmp_path, pg_uri, ddl, f"(1, {good}), (2, {good}), (3, {bad})")
    with pytest.raises(Exception, match=r"object_id 't': reading the source failed") as err:
        project.materialize("t")
    assert __import__("re").search(message, str(err.value)), str(err.value)
    assert "Traceback" not in str(err.value)
    assert not target_exists(tmp_path)  # nothing written


def test_lossy_driver_types_arrive_exact(tmp_path, pg_uri):
    project = pg_to_duckdb(
        tmp_path,
        pg_uri,
        "m money, ip inet, net cidr, mac macaddr, tz timetz, x xml",
        "(1, 12.5, '10.0.0.1/24', '10.1.0.0/16', '08:00:2b:01:02:03', '12:00+02', '<a b=\"1\"/>'),"
        " (2, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    project.materialize("t")
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    row = con.execute("SELECT m, ip, net, mac, tz, x FROM t WHERE id = 1").fetchone()
    assert row == (
        decimal.Decimal("12.5"),  # not 1250 (cents)
        "10.0.0.1/24",
        "10.1.0.0/16",
        "08:00:2b:01:02:03",
        "12:00:00+02",
        '<a b="1"/>',
    )
    assert con.execute("SELECT m, ip FROM t WHERE id = 2").fetchone() == (None, None)


def _text(value):
    """A uuid or json value in a form every target's read-back can be compared in."""
    import json
    import uuid

    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes=value))
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value


@pytest.mark.parametrize("sync_type", ["full", "merge"])
def test_uuid_and_json_land_as_the_targets_own_types(
    tmp_path, pg_uri, target_conn, target_kind, sync_type
):
    """uuid and json(b) from PostgreSQL: UUID / uuid / UNIQUEIDENTIFIER or their text, JSON /
    jsonb or text, the same on every run (the second sync once failed: binary vs 16 bytes)."""
    project = pg_project(
        tmp_path,
        pg_uri,
        target_conn,
        "u uuid, j jsonb, js json",
        "INSERT INTO t SELECT g, md5(g::text)::uuid, jsonb_build_object('g', g, 'tags', "
        "jsonb_build_array('a', g)), json_build_object('n', g) FROM generate_series(1, 20) g "
        "UNION ALL SELECT 21, NULL, NULL, NULL",
        sync_type=sync_type,
        merge_keys=["id"],
    )
    project.materialize("t")
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("UPDATE t SET u = gen_random_uuid(), j = '{\"changed\": true}' WHERE id <= 3")
        con.execute("INSERT INTO t VALUES (22, gen_random_uuid(), '[1, 2]', '\"x\"')")
    project.materialize("t")  # the second run: same types, no schema-change error
    with psycopg.connect(pg_uri) as con:
        want = {
            r[0]: tuple(_text(v) for v in r[1:])
            for r in con.execute("SELECT id, u::text, j::text, js::text FROM t").fetchall()
        }
    got = project.target_table("t").to_pylist()
    assert {r["id"]: (_text(r["u"]), _text(r["j"]), _text(r["js"])) for r in got} == want
    kinds = project.target("t").describe().get("sql_types") or {}
    natural = {"duckdb": ("UUID", "JSON"), "postgres": ("uuid", "jsonb")}
    if target_kind in natural:
        assert (kinds["u"], kinds["j"]) == natural[target_kind]


def test_arrays_land_as_lists_or_arrays_and_round_trip(tmp_path, pg_uri, target_conn, target_kind):
    """PostgreSQL arrays: native lists (DuckDB, Delta, Parquet), the same arrays on PostgreSQL
    (text[] stays text[]), JSON text where the target has no list type; twice."""
    import json

    project = pg_project(
        tmp_path,
        pg_uri,
        target_conn,
        "tags text[], nums int[], days date[]",
        "INSERT INTO t VALUES (1, ARRAY['a', NULL, 'ü c'], ARRAY[1, 2], "
        "ARRAY[date '2025-01-01']), (2, '{}', '{}', '{}'), (3, NULL, NULL, NULL)",
        sync_type="merge",
        merge_keys=["id"],
    )
    project.materialize("t")
    with psycopg.connect(pg_uri, autocommit=True) as con:
        con.execute("UPDATE t SET tags = ARRAY['new'], nums = ARRAY[7] WHERE id = 2")
    project.materialize("t")
    got = {r["id"]: r for r in project.target_table("t").to_pylist()}
    tags, nums = got[1]["tags"], got[2]["nums"]
    if target_kind in ("odbc", "snowflake"):  # JSON text
        tags, nums = json.loads(tags), json.loads(nums)
    assert tags == ["a", None, "ü c"] and nums == [7]
    assert got[3]["tags"] is None
    if target_kind == "postgres":
        kinds = project.target("t").describe()["sql_types"]
        assert (kinds["tags"], kinds["nums"], kinds["days"]) == ("text[]", "integer[]", "date[]")
