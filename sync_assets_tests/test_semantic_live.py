"""Live: a semantic model's tables, metadata and semantic view in a real Snowflake account
(deselected by default: marker `live`; fakesnow has no semantic views).

Set SYNC_ASSETS_LIVE_SNOWFLAKE to a JSON object of snowflake connection fields (account,
user, password or private_key_path, database, warehouse, role) of a database you may create
schemas in, then:

    SYNC_ASSETS_LIVE_SNOWFLAKE='{"account": "...", "user": "...", ...}' \\
        .venv/bin/python -m pytest -m live sync_assets_tests/test_semantic_live.py

The test syncs the sample model `Sales` (semantic_samples/) with `sync_tables` from a local
Delta lakehouse, creates its semantic view, queries a metric through SEMANTIC_VIEW(...) and
compares it with the source, then drops the schemas it made.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake

from sync_assets.config.loader import load_project
from sync_assets_tests.harness import Project
from sync_assets_tests.test_semantic_tables import ORDERS, _materialize_model

LIVE = os.environ.get("SYNC_ASSETS_LIVE_SNOWFLAKE")
SAMPLES = Path(__file__).parent / "semantic_samples"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE, reason="set SYNC_ASSETS_LIVE_SNOWFLAKE to run"),
]


def _execute(conn_fields: dict, *statements: str) -> list[list]:
    from sync_assets.config.models import SnowflakeConnection
    from sync_assets.snowflake.connection import Connection

    con = Connection(SnowflakeConnection(type="snowflake", **conn_fields), autocommit=True)
    try:
        return [con.cursor().execute(s).fetchall() for s in statements]
    finally:
        con.close()


def test_the_semantic_view_answers_like_the_source(tmp_path):
    fields = json.loads(LIVE)
    suffix = uuid.uuid4().hex[:8].upper()
    meta_schema, data_schema = f"SA_SEM_{suffix}", f"SA_PBI_{suffix}"
    lake = tmp_path / "lake"
    write_deltalake(str(lake / "sales" / "orders"), ORDERS)
    dates = sorted(set(ORDERS.column("order_date").to_pylist()))
    write_deltalake(
        str(lake / "dim" / "dates"),
        pa.table({"Date": dates, "Year": pa.array([2026] * len(dates), pa.int64())}),
    )
    shutil.copytree(SAMPLES / "Sales.SemanticModel", tmp_path / "models" / "Sales.SemanticModel")
    project = Project(
        tmp_path,
        {"lake": {"type": "delta", "root": str(lake)}, "snow": {"type": "snowflake", **fields}},
        [],
    )
    project.set_section(
        "semantic_models",
        {
            "source": {"type": "pbip_folder", "path": str(tmp_path / "models")},
            "target": "snow",
            "schema": meta_schema,
            "create_views": True,
            "sync_tables": {
                "sources": {"abc.datawarehouse.fabric.microsoft.com/1f0e-lakehouse": "lake"},
                "schema": data_schema,
            },
        },
    )
    database = fields["database"]
    try:
        for object_id in load_project(project.configs).semantic_tables["Sales"].values():
            project.materialize(object_id)
        meta = _materialize_model(project, "Sales")
        assert meta["semantic/view_created"] is True
        [shown] = _execute(fields, f'SHOW SEMANTIC VIEWS IN SCHEMA "{database}"."{meta_schema}"')
        assert [row[1] for row in shown] == ["SALES"]
        [rows] = _execute(
            fields,
            f'SELECT * FROM SEMANTIC_VIEW("{database}"."{meta_schema}"."SALES" '
            "DIMENSIONS sales.status METRICS sales.total_sales, sales.order_count)",
        )
        expected = {
            status: (
                pc.sum(pc.filter(ORDERS["amount"], pc.equal(ORDERS["status"], status))).as_py(),
                pc.sum(pc.equal(ORDERS["status"], status)).as_py(),
            )
            for status in ("open", "paid")
        }
        assert {r[0]: (float(r[1]), int(r[2])) for r in rows} == expected
    finally:
        _execute(
            fields,
            f'DROP SCHEMA IF EXISTS "{database}"."{meta_schema}"',
            f'DROP SCHEMA IF EXISTS "{database}"."{data_schema}"',
        )
