"""The code location as Dagster loads it, from the demo configs under configs/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

PROJECT = Path(__file__).resolve().parents[1]
EXPECTED_KEYS = {
    "lakehouse/dbo/customers", "warehouse/dim/customers", "warehouse/sales/orders", "lakehouse/sales/orders",
    "bronze/events/order_events", "bronze/sales/orders_daily", "lakehouse/sales/orders_by_day",
    "warehouse/marts/customer_revenue", "warehouse/sales/orders_from_lakehouse",
}


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_ASSETS_DATA", str(tmp_path / "data"))
    from sync_assets.demo import ensure_demo_source

    ensure_demo_source(tmp_path / "data" / "demo_source.duckdb")
    return tmp_path


def test_code_location_specs():
    from sync_assets.definitions import defs

    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert set(specs) == EXPECTED_KEYS
    orders = specs["warehouse/sales/orders"]
    assert orders.kinds == {"duckdb"} and orders.group_name == "demo"
    assert orders.tags["sync/object_id"] == "orders_to_warehouse"
    assert specs["lakehouse/sales/orders"].kinds == {"duckdb", "deltalake"}
    assert specs["bronze/events/order_events"].kinds == {"duckdb", "parquet"}
    daily = specs["bronze/sales/orders_daily"]
    assert isinstance(daily.partitions_def, dg.DailyPartitionsDefinition)
    assert daily.partitions_def.get_first_partition_key() == "2025-01-01"
    assert daily.partitions_def.get_last_partition_key() == "2025-04-30"
    assert daily.metadata["sync/object_id"] == "orders_daily_bronze"
    job_assets = defs.get_assets_def(dg.AssetKey(["bronze", "sales", "orders_daily"]))
    assert job_assets.backfill_policy == dg.BackfillPolicy.single_run()
    assert {s.name for s in defs.schedules} == {"sync_customers_to_lakehouse_schedule", "sync_orders_to_warehouse_schedule"}


def test_materialization_metadata(demo_env):
    from sync_assets.definitions import load_definitions

    defs = load_definitions()
    resources = dict(defs.resources)
    instance = dg.DagsterInstance.ephemeral()
    orders = defs.get_assets_def(dg.AssetKey(["warehouse", "sales", "orders"]))
    result = dg.materialize([orders], resources=resources, instance=instance)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    for key in ("dagster/row_count", "dagster/column_schema", "dagster/uri", "sync/sync_type", "sync/rows_read",
                "sync/rows_inserted", "sync/rows_updated", "sync/rows_deleted", "sync/watermark", "sync/duration_s"):
        assert key in meta, key
    assert meta["dagster/row_count"].value == 120_000
    assert meta["sync/watermark"].value == "2025-05-01T00:04:18"
    assert str(demo_env) in meta["dagster/uri"].value and "order_id" in [c.name for c in meta["dagster/column_schema"].schema.columns]

    daily = defs.get_assets_def(dg.AssetKey(["bronze", "sales", "orders_daily"]))
    result = dg.materialize([daily], resources=resources, instance=instance, partition_key="2025-02-03")
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dagster/partition_row_count"].value == 600  # paid, shipped, delivered of 1000
    assert meta["sync/sync_type"].value == "full"


def test_readme_demo_command_is_idempotent(tmp_path):
    """`sync-assets demo` twice: the second run reads and writes nothing anywhere."""
    env = dict(os.environ, SYNC_ASSETS_DATA=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    cli = [sys.executable, "-m", "sync_assets.cli", "demo"]
    first = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "warehouse/sales/orders" in first.stdout and "120000" in first.stdout
    second = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = [line for line in second.stdout.splitlines() if line.startswith(("bronze/", "lakehouse/", "warehouse/"))]
    assert len(rows) == len(EXPECTED_KEYS)
    for line in rows:
        read, inserted, updated, deleted = line.split()[2:6]
        assert (read, inserted, updated, deleted) == ("0", "0", "0", "0"), line
    # source changes reach the lakehouse, and from there the warehouse through the CDF
    third = subprocess.run(cli + ["--changes"], env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    onward = next(line for line in third.stdout.splitlines() if line.startswith("warehouse/sales/orders_from_lakehouse"))
    lake = next(line for line in third.stdout.splitlines() if line.startswith("lakehouse/sales/orders "))
    assert onward.split()[3:6] == lake.split()[3:6] and onward.split()[3:6] != ["0", "0", "0"], (onward, lake)


def test_downstream_asset_reads_a_synced_table_lazily(tmp_path):
    """load_input hands downstream assets an Arrow stream over the target (or its partition)."""
    from sync_assets_tests.data import items_project

    project, _ = items_project(tmp_path, {"type": "delta", "root": str(tmp_path / "lake")}, sync_type="full")
    defs = project.definitions()
    sync_asset = defs.assets[0]
    seen = {}

    @dg.asset(ins={"items": dg.AssetIn(key=dg.AssetKey(["tgt", "sales", "items"]))})
    def item_count(items: pa.RecordBatchReader) -> int:
        seen["type"] = type(items)
        return sum(batch.num_rows for batch in items)

    result = dg.materialize([sync_asset, item_count], resources={**defs.resources, "io_manager": dg.mem_io_manager})
    assert result.output_for_node("item_count") == 300
    assert issubclass(seen["type"], pa.RecordBatchReader)


def test_connection_errors_do_not_leak_passwords(tmp_path):
    from sync_assets_tests.data import items_project
    from sync_assets_tests.pg_server import free_port

    dsn = f"postgresql://sync:Sup3r-Secret@127.0.0.1:{free_port()}/nowhere"
    project, _ = items_project(tmp_path, {"type": "postgres", "dsn": dsn}, sync_type="full")
    with pytest.raises(Exception) as info:
        project.materialize("items_sync")
    assert "Sup3r-Secret" not in str(info.value)
    assert "object_id 'items_sync'" in str(info.value)
