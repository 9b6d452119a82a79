"""A semantic model's metadata in Snowflake, through the real connector and the fakesnow
server (issue: new-model detection): the five tables exact after each sync, the sync count
counted, no duplicate rows on a rerun, a changed model replacing its rows, a deleted model
flagged with its rows kept, and a failed write changing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_assets.config.models import SnowflakeConnection
from sync_assets.semantic.pbip import read_folder
from sync_assets.semantic.snowflake_store import SemanticStore
from sync_assets.semantic.view import semantic_view_sql
from sync_assets.snowflake.connection import Connection
from sync_assets_tests.conftest import snowflake_connection

SAMPLES = Path(__file__).parent / "semantic_samples"
TABLES = {"Sales": '"DB"."SALES"."ORDERS"', "Order Date": '"DB"."DIM"."DATES"'}


@pytest.fixture
def store(fakesnow_server):
    conn = Connection(SnowflakeConnection(**snowflake_connection(fakesnow_server)), True)
    yield SemanticStore(conn, "SEMANTIC")
    conn.close()


def _count(store, table: str, model_id: str = "m1") -> int:
    sql = f"SELECT COUNT(*) FROM {store.table(table)} WHERE MODEL_ID = ?"
    return store.connection.cursor().execute(sql, model_id).fetchone()[0]


def test_sync_rerun_change_and_delete(store):
    model = read_folder(SAMPLES)["Sales"]
    view = semantic_view_sql(model, '"DB"."PBI"."SALES"', TABLES.get)
    first = store.write("m1", model, "pbip_folder: Sales.SemanticModel", view)
    assert first.sync_count == 1
    counts = {t: _count(store, t) for t in ("_SEMANTIC_TABLES", "_SEMANTIC_COLUMNS",
                                            "_SEMANTIC_MEASURES", "_SEMANTIC_RELATIONSHIPS")}  # fmt: skip
    assert counts == {
        "_SEMANTIC_TABLES": 3, "_SEMANTIC_COLUMNS": 9, "_SEMANTIC_MEASURES": 5,
        "_SEMANTIC_RELATIONSHIPS": 2,
    }  # fmt: skip
    measures = (
        store.connection.cursor()
        .execute(
            f"SELECT MEASURE_NAME, METRIC_SQL, REFUSED_REASON FROM {store.table('_SEMANTIC_MEASURES')} "
            "ORDER BY MEASURE_NAME"
        )
        .fetchall()
    )
    assert measures[0] == ("Average Order", None, "VAR / RETURN is not in the subset")
    assert ("Total Sales", 'SUM(sales."amount")', None) in measures

    again = store.write("m1", model, "pbip_folder: Sales.SemanticModel", view)
    assert again.sync_count == 2
    assert {t: _count(store, t) for t in counts} == counts  # replaced, not duplicated
    assert _count(store, "_SEMANTIC_METADATA") == 1

    stored = store.synced()["m1"]
    assert (stored.definition_hash, stored.sync_count, stored.deleted) == (
        model.definition_hash(), 2, False,
    )  # fmt: skip
    store.mark_deleted("m1")
    assert store.synced()["m1"].deleted
    assert _count(store, "_SEMANTIC_COLUMNS") == 9  # nothing dropped


def test_a_failed_write_changes_nothing(store, monkeypatch):
    model = read_folder(SAMPLES)["Sales"]
    store.write("m1", model, "pbip", None)
    original = store._insert

    def failing(cur, name, rows):
        if name == "_SEMANTIC_RELATIONSHIPS":
            raise RuntimeError("connection lost")
        original(cur, name, rows)

    monkeypatch.setattr(store, "_insert", failing)
    with pytest.raises(RuntimeError):
        store.write("m1", model, "pbip", None)
    assert store.synced()["m1"].sync_count == 1
    assert _count(store, "_SEMANTIC_RELATIONSHIPS") == 2
