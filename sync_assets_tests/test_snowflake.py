"""Snowflake through the real connector and SnowflakeResource against the fakesnow server.

The sync-type, partition, schema, CDF and kill -9 matrices already run on target kind
`snowflake`. Where fakesnow lacks what Snowflake has, the real code path stays and is
checked here as text:
- MERGE inside an explicit transaction fails on fakesnow, so the matrix runs with
  `use_merge: false` (delete + insert); the MERGE statements are golden text below;
- HASH_AGG (the probe's fingerprint) is missing, so the source tests use incremental syncs or
  `skip_unchanged: false`; the probe is golden text below;
- a client killed inside its transaction is not tested (fakesnow shares one DuckDB connection
  between all clients).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import snowflake.connector
import sqlglot

from sync_assets.snowflake.flavor import SNOWFLAKE, flavor_for
from sync_assets.snowflake.statements import catalog_sql, copy_into_sql
from sync_assets.snowflake.types import arrow_type_of, column_type
from sync_assets.sql.select import probe_sql, select_sql
from sync_assets_tests.conftest import snowflake_connection
from sync_assets_tests.harness import Project
from sync_assets_tests.tsql_script import hash_reads, script

GOLDEN = Path(__file__).parent / "golden" / "snowflake.sql"


def _render() -> str:
    statements = (
        script(SNOWFLAKE)
        + [
            ("stage load", copy_into_sql('"_sync_assets"."stage_orders"', "orders/run")),
            ("catalog", catalog_sql()),
            (
                "source: probe",
                probe_sql(
                    select_sql('"sales"."orders"', None, "status <> 'test'", [], "snowflake"),
                    "updated_at",
                    "snowflake",
                    fingerprint=True,
                ),
            ),
        ]
        + hash_reads("snowflake")
    )
    return "".join(f"-- {label}\n{sql};\n\n" for label, sql in statements)


def test_statements_match_golden_text_and_parse_as_snowflake():
    text = _render()
    if os.environ.get("SYNC_ASSETS_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    for _label, sql in script(SNOWFLAKE) + hash_reads("snowflake"):
        sqlglot.parse_one(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    merge = dict(script(SNOWFLAKE))["merge"]
    assert (
        merge.startswith('MERGE INTO "sales"."orders" AS t USING')
        and "WHEN NOT MATCHED THEN INSERT" in merge
    )


def test_use_merge_switch():
    assert flavor_for(type("C", (), {"use_merge": True})()).has_merge
    assert not flavor_for(type("C", (), {"use_merge": False})()).has_merge


def test_type_mapping_round_trip():
    import pyarrow as pa

    for t in (
        pa.int32(),
        pa.int64(),
        pa.uint64(),
        pa.float32(),
        pa.decimal128(12, 2),
        pa.string(),
        pa.binary(),
        pa.date32(),
        pa.timestamp("us"),
        pa.timestamp("ns", tz="UTC"),
        pa.bool_(),
        pa.list_(pa.int8()),
    ):
        sql_type, stored = column_type(t)
        name, _, args = sql_type.partition("(")
        nums = [int(a) for a in args.rstrip(")").split(",") if a]
        precision, scale = (nums + [None, None])[:2] if name == "NUMBER" else (None, None)
        assert arrow_type_of(name, precision, scale) == stored, (t, sql_type)


def _seed(server, database, rows=500):
    args = {
        k: server[k] for k in ("host", "port", "protocol", "session_parameters", "network_timeout")
    }
    con = snowflake.connector.connect(
        account="fakesnow",
        user="fake",
        password="fakesnow-test-password",
        database=database,
        **args,
    )
    cur = con.cursor()
    cur.execute('CREATE SCHEMA "shop"')
    cur.execute(
        'CREATE TABLE "shop"."orders" ("id" NUMBER(38,0), "status" VARCHAR, "amount" NUMBER(12,2), '
        '"updated_at" TIMESTAMP_NTZ(6))'
    )
    cur.execute(f"""INSERT INTO "shop"."orders" SELECT seq4() + 1, CASE WHEN seq4() % 3 = 0 THEN 'x' ELSE 'ok' END,
                    (seq4() + 1) * 1.25, DATEADD(second, seq4(), '2025-01-01'::TIMESTAMP_NTZ)
                    FROM TABLE(GENERATOR(ROWCOUNT => {rows}))""")
    return con


def test_snowflake_source_streams_arrow_batches(tmp_path, fakesnow_server):
    source = snowflake_connection(fakesnow_server)
    con = _seed(fakesnow_server, source["database"])
    spec = {
        "object_id": "snow_orders",
        "source": {"connection": "snow", "schema": "shop", "object": "orders"},
        "target": {"connection": "wh", "object": "orders"},
        "sync_type": "incremental",
        "sync_column": "updated_at",
        "merge_keys": ["id"],
        "filter_condition": "\"status\" <> 'x'",
        "batch_size": 100,
    }
    project = Project(
        tmp_path,
        {"snow": source, "wh": {"type": "duckdb", "path": str(tmp_path / "w.duckdb")}},
        [spec],
    )
    meta = project.materialize("snow_orders")
    assert meta["sync/rows_read"] == 333
    table = project.target_table("snow_orders")
    assert table.schema.field("amount").type.scale == 2 and table.num_rows == 333
    con.cursor().execute(
        """UPDATE "shop"."orders" SET "amount" = 0, "updated_at" = '2026-01-01'::TIMESTAMP_NTZ WHERE "id" <= 10"""
    )
    meta = project.materialize("snow_orders")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (
        0,
        6,
    )  # ids 1..10 minus the 4 with status x


def test_connection_check(tmp_path, fakesnow_server):
    from sync_assets.config.loader import load_project
    from sync_assets.connection_checks import check_connections

    project = Project(tmp_path, {"snow": snowflake_connection(fakesnow_server)}, [])
    [check] = check_connections(load_project(project.configs), tmp_path)
    assert check.ok and check.what == "connect", check.line()


@pytest.mark.live
@pytest.mark.skipif(
    not os.environ.get("SYNC_ASSETS_LIVE_SNOWFLAKE"), reason="set SYNC_ASSETS_LIVE_SNOWFLAKE to run"
)
@pytest.mark.parametrize(
    "sync_type, extra",
    [
        ("full", {}),
        ("merge", {"merge_keys": ["id"]}),
        ("incremental", {"sync_column": "updated_at", "merge_keys": ["id"]}),
    ],
)
def test_live_snowflake_target(tmp_path, sync_type, extra):
    """Against a real account: SYNC_ASSETS_LIVE_SNOWFLAKE holds a JSON object of snowflake
    connection fields (account, user, password or private_key_path, database, warehouse, role).
    MERGE runs for real there (use_merge defaults to true)."""
    import json

    from sync_assets_tests.data import insert_items, items_project, source_rows, update_items
    from sync_assets_tests.harness import assert_same_rows

    conn = {"type": "snowflake", **json.loads(os.environ["SYNC_ASSETS_LIVE_SNOWFLAKE"])}
    schema = f"sa_{os.getpid()}_{sync_type}"
    project, src = items_project(
        tmp_path,
        conn,
        target={"connection": "tgt", "schema": schema, "object": "items"},
        sync_type=sync_type,
        **extra,
    )
    project.materialize("items_sync")
    insert_items(src, 1000, 10)
    update_items(src, "id % 10 = 0")
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
