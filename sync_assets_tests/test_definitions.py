"""The code location as Dagster loads it, from the demo configs under configs/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

PROJECT = Path(__file__).resolve().parents[1]
EXPECTED_KEYS = {
    "lakehouse/dbo/customers",
    "warehouse/dim/customers",
    "warehouse/crm/customers",
    "warehouse/dim/customers_history",
    "warehouse/sales/orders",
    "lakehouse/sales/orders",
    "bronze/events/order_events",
    "bronze/sales/orders_daily",
    "lakehouse/sales/orders_by_day",
    "warehouse/marts/customer_revenue",
    "warehouse/sales/orders_from_lakehouse",
    "warehouse/sales/customer_feedback",
    "lakehouse/iot/readings",
    "warehouse/iot/readings",
    "bronze/crm/customers_by_id_range",
}
# the demo's semantic models (semantic_models:, one dynamic partition per model), and the
# two lakehouse tables its model reads, synced beside it by generated objects (sync_tables)
SEMANTIC_KEYS = {"semantic_models", "semantic_store/dbo/customers", "semantic_store/sales/orders"}
# the demo source's tables, external assets upstream of the objects that read them
SOURCE_KEYS = {
    "demo_source/main/orders",
    "demo_source/main/customers",
    "demo_source/main/order_events",
    "notebook_lake/dbo/customer_feedback",
    "demo_source/main/readings",
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
    assert set(specs) == EXPECTED_KEYS | SOURCE_KEYS | SEMANTIC_KEYS
    assert specs["semantic_models"].deps == [
        dg.AssetDep(k)
        for k in (["semantic_store", "dbo", "customers"], ["semantic_store", "sales", "orders"])
    ]
    assert specs["semantic_store/sales/orders"].group_name == "semantic_models"
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
    assert {s.name for s in defs.schedules} == {
        "sync_customers_to_lakehouse_schedule",
        "sync_orders_daily_lakehouse_schedule",
        "sync_customers_by_id_range_frequent_schedule",
        "sync_customers_by_id_range_nightly_hash_schedule",
    }
    # continuous: a change sensor; eager: an automation condition and its sensor; and the
    # run history's replication
    assert {s.name for s in defs.sensors} == {
        "sync_orders_to_warehouse_on_change",
        "sync_orders_lakehouse_to_warehouse_automation",
        # the semantic model's tables sync after their lakehouse tables (sync_tables)
        "sync_pbi_lakehouse_dbo_customers_automation",
        "sync_pbi_lakehouse_sales_orders_automation",
        "sync_history_after_runs",
        "semantic_models_detection",
    }
    assert orders.freshness_policy is not None
    assert (
        specs["warehouse/sales/orders_from_lakehouse"].automation_condition.get_label() == "eager"
    )
    ranged = specs["bronze/crm/customers_by_id_range"].partitions_def
    assert ranged.get_partition_keys()[:2] == ["0-999", "1000-1999"]


def test_materialization_metadata(demo_env):
    from sync_assets.definitions import load_definitions

    defs = load_definitions()
    resources = dict(defs.resources)
    instance = dg.DagsterInstance.ephemeral()
    orders = defs.get_assets_def(dg.AssetKey(["warehouse", "sales", "orders"]))
    result = dg.materialize([orders], resources=resources, instance=instance)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    for key in (
        "dagster/row_count",
        "dagster/column_schema",
        "dagster/uri",
        "sync/sync_type",
        "sync/rows_read",
        "sync/rows_inserted",
        "sync/rows_updated",
        "sync/rows_deleted",
        "sync/watermark",
        "sync/duration_s",
    ):
        assert key in meta, key
    assert meta["dagster/row_count"].value == 120_000
    assert meta["sync/watermark"].value == "2025-05-01T00:04:18"
    assert str(demo_env) in meta["dagster/uri"].value and "order_id" in [
        c.name for c in meta["dagster/column_schema"].schema.columns
    ]

    # the column schema shows the target's own type beside the Arrow type it reads back as
    amount = next(c for c in meta["dagster/column_schema"].schema.columns if c.name == "amount")
    assert (amount.type, amount.description) == ("DECIMAL(12,2)", "Arrow type: decimal128(12, 2)")

    daily = defs.get_assets_def(dg.AssetKey(["bronze", "sales", "orders_daily"]))
    result = dg.materialize(
        [daily], resources=resources, instance=instance, partition_key="2025-02-03"
    )
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["dagster/partition_row_count"].value == 600  # paid, shipped, delivered of 1000
    assert meta["sync/sync_type"].value == "full"


def test_readme_demo_command_is_idempotent(tmp_path):
    """`sync-assets demo` twice: the second run reads and writes nothing anywhere."""
    env = dict(
        os.environ, SYNC_ASSETS_DATA=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "home")
    )
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    cli = [sys.executable, "-m", "sync_assets.cli", "demo"]
    first = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "warehouse/sales/orders" in first.stdout and "120000" in first.stdout
    second = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = [
        line
        for line in second.stdout.splitlines()
        if line.startswith(("bronze/", "lakehouse/", "warehouse/"))
    ]
    assert len(rows) == len(EXPECTED_KEYS)
    for line in rows:
        read, inserted, updated, deleted = line.split()[2:6]
        if line.startswith("lakehouse/iot/readings"):  # quarantined rows are retried each run
            assert (inserted, updated, deleted) == ("0", "0", "0") and "40 rows quarantined" in line
            continue
        assert (read, inserted, updated, deleted) == ("0", "0", "0", "0"), line
    # source changes reach the lakehouse, and from there the warehouse through the CDF
    third = subprocess.run(
        cli + ["--changes"], env=env, capture_output=True, text=True, timeout=600
    )
    assert third.returncode == 0, third.stderr[-3000:]
    onward = next(
        line
        for line in third.stdout.splitlines()
        if line.startswith("warehouse/sales/orders_from_lakehouse")
    )
    lake = next(
        line for line in third.stdout.splitlines() if line.startswith("lakehouse/sales/orders ")
    )
    assert onward.split()[3:6] == lake.split()[3:6] and onward.split()[3:6] != ["0", "0", "0"], (
        onward,
        lake,
    )
    # the hash object writes the segment changes and the delete, not the logins it excludes
    hashed = next(
        line for line in third.stdout.splitlines() if line.startswith("warehouse/crm/customers")
    )
    inserted, updated, deleted = (int(v) for v in hashed.split()[3:6])
    assert inserted == 0 and 0 < updated < 100 and deleted == 1, hashed
    # the SCD2 dimension adds a version per changed customer and closes the deleted one
    history = next(
        line
        for line in third.stdout.splitlines()
        if line.startswith("warehouse/dim/customers_history")
    )
    assert f"history: 0 new, {updated} changed, 1 closed keys" in history, history


def test_downstream_asset_reads_a_synced_table_lazily(tmp_path):
    """load_input hands downstream assets an Arrow stream over the target (or its partition)."""
    from sync_assets_tests.data import items_project

    project, _ = items_project(
        tmp_path, {"type": "delta", "root": str(tmp_path / "lake")}, sync_type="full"
    )
    defs = project.definitions()
    sync_asset = defs.assets[0]
    seen = {}

    @dg.asset(ins={"items": dg.AssetIn(key=dg.AssetKey(["tgt", "sales", "items"]))})
    def item_count(items: pa.RecordBatchReader) -> int:
        seen["type"] = type(items)
        return sum(batch.num_rows for batch in items)

    result = dg.materialize(
        [sync_asset, item_count], resources={**defs.resources, "io_manager": dg.mem_io_manager}
    )
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


def _comparable(defs: dg.Definitions) -> dict:
    """What a code location shows, without the keys Dagster adds to say where a component's
    definitions came from (code references, component origin)."""
    added = ("dagster/code_references", "dagster/component_origin")
    specs = {}
    for spec in defs.resolve_all_asset_specs():
        specs[spec.key] = (
            spec.group_name,
            spec.kinds,
            dict(spec.tags),
            spec.code_version,
            spec.partitions_def,
            sorted(d.asset_key.to_user_string() for d in spec.deps),
            spec.description,
            {k: v for k, v in spec.metadata.items() if k not in added},
        )
    return {
        "specs": specs,
        "resources": sorted(defs.resources),
        "jobs": sorted(j.name for j in defs.jobs),
        "schedules": sorted(s.name for s in defs.schedules),
        "checks": sorted(str(k) for k in defs.resolve_asset_graph().asset_check_keys),
    }


def test_component_builds_the_same_definitions_as_the_code_location():
    """The defs folder (sync_assets/defs/sync_objects/defs.yaml: type SyncObjectsComponent),
    loaded the way `dg` loads it, equals `sync_assets.definitions`."""
    from sync_assets.definitions import defs

    through_component = dg.load_from_defs_folder(path_within_project=PROJECT)
    assert _comparable(through_component) == _comparable(defs)
    origin = through_component.resolve_assets_def(dg.AssetKey(["warehouse", "sales", "orders"]))
    assert (
        origin.specs_by_key[origin.key].metadata["dagster/component_origin"].class_name
        == "SyncObjectsComponent"
    )


def test_component_declared_by_another_dg_project(tmp_path):
    """`type: sync_assets.SyncObjectsComponent` with its own configs folder, in another project."""
    from sync_assets_tests.data import items_project

    project, _ = items_project(
        tmp_path, {"type": "delta", "root": str(tmp_path / "lake")}, sync_type="full"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\nroot_module = "other"\n'
    )
    folder = tmp_path / "other" / "defs" / "syncs"
    folder.mkdir(parents=True)
    (tmp_path / "other" / "__init__.py").write_text("")
    (tmp_path / "other" / "defs" / "__init__.py").write_text("")
    (folder / "defs.yaml").write_text(
        "type: sync_assets.SyncObjectsComponent\nattributes:\n  configs: configs\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        built = dg.load_from_defs_folder(path_within_project=tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
    assert _comparable(built) == _comparable(project.definitions())
    assert dg.AssetKey(["tgt", "sales", "items"]) in {
        s.key for s in built.resolve_all_asset_specs()
    }


def test_code_version_follows_the_effective_config_only(tmp_path):
    """code_version changes with what the asset does, not with secrets or unrelated objects."""
    from sync_assets.config.loader import load_project
    from sync_assets.specs import code_version
    from sync_assets_tests.data import items_project

    project, _ = items_project(
        tmp_path, {"type": "postgres", "dsn": "postgresql://u:one@h/db"}, sync_type="full"
    )

    def version(object_id="items_sync"):
        loaded = load_project(project.configs)
        return code_version(
            next(o for o in loaded.sync_objects if o.object_id == object_id), loaded
        )

    first = version()
    assert version() == first  # stable across loads
    project.write(
        dict(project.connections, tgt={"type": "postgres", "dsn": "postgresql://u:two@h/db"}),
        project.objects,
    )
    assert version() == first  # a rotated password is not a new version
    other = dict(
        project.objects[0], object_id="other", target={"connection": "tgt", "object": "other"}
    )
    project.write(project.connections, project.objects + [other])
    assert version() == first  # another object changed nothing here
    base = project.objects
    for change in (
        {"batch_size": 5000},
        {"filter_condition": "id > 3"},
        {"sync_type": "merge", "merge_keys": ["id"]},
    ):
        project.write(project.connections, [dict(base[0], **change), *base[1:]])
        assert version() != first, change
    project.write(project.connections, base)
    assert version() == first


def test_source_tables_are_external_assets_upstream_of_their_syncs(tmp_path):
    """Source tables no object writes are external assets (kinds of the source system) with an
    edge to each object reading them; a table one object writes is the next object's upstream."""
    from sync_assets_tests.data import items_project

    project, _ = items_project(
        tmp_path, {"type": "delta", "root": str(tmp_path / "lake")}, sync_type="full"
    )
    onward = {
        "object_id": "items_onward",
        "source": {"connection": "tgt", "schema": "sales", "object": "items"},
        "target": {"connection": "wh", "object": "items"},
        "sync_type": "full",
    }
    second = {
        "object_id": "items_copy",
        "source": {"connection": "src", "object": "items"},
        "target": {"connection": "wh", "object": "items_copy"},
        "sync_type": "full",
    }
    query = {
        "object_id": "by_query",
        "source": {"connection": "src", "query": "SELECT 1 AS id"},
        "target": {"connection": "wh", "object": "q"},
        "sync_type": "full",
    }
    connections = dict(
        project.connections, wh={"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    )
    project.write(connections, project.objects + [onward, second, query])
    defs = project.definitions()
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    source = specs["src/main/items"]  # `main`: the DuckDB default schema, named or not
    assert source.kinds == {"duckdb"} and source.metadata["dagster/table_name"] == "main.items"
    assert not defs.resolve_assets_def(
        source.key
    ).is_executable  # external: observed, never materialized here
    deps = {k: [d.asset_key.to_user_string() for d in s.deps] for k, s in specs.items()}
    assert deps["tgt/sales/items"] == ["src/main/items"] and deps["wh/main/items_copy"] == [
        "src/main/items"
    ]
    assert deps["wh/main/items"] == ["tgt/sales/items"] and deps["wh/main/q"] == []
    assert set(specs) == {
        "src/main/items",
        "tgt/sales/items",
        "wh/main/items",
        "wh/main/items_copy",
        "wh/main/q",
    }
    assert specs["wh/main/items"].metadata["dagster/table_name"] == "wh.main.items"


def test_dg_checks_and_lists_the_project(tmp_path):
    """`dg check defs` validates the defs folder's component YAML and loads the code location;
    `dg list defs` shows the sync assets and the external source tables."""
    dg_cli = str(Path(sys.executable).parent / "dg")
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path))
    checked = subprocess.run(
        [dg_cli, "check", "defs"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "All component YAML validated successfully" in checked.stdout + checked.stderr
    listed = subprocess.run(
        [dg_cli, "list", "defs", "--json"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    keys = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert keys == EXPECTED_KEYS | SOURCE_KEYS | SEMANTIC_KEYS


@pytest.mark.parametrize(
    "target, expected",
    [
        (
            "delta",
            {
                "id": "BIGINT",
                "amount": "DECIMAL(12,2)",
                "ts": "TIMESTAMP",
                "updated_at": "TIMESTAMP_NTZ",
            },
        ),
        ("duckdb", {"id": "BIGINT", "amount": "DECIMAL(12,2)", "ts": "TIMESTAMP WITH TIME ZONE"}),
    ],
)
def test_column_schema_shows_the_target_types(tmp_path, target, expected):
    from sync_assets_tests.data import items_project

    conn = {
        "delta": {"type": "delta", "root": str(tmp_path / "lake")},
        "duckdb": {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")},
    }[target]
    project, _ = items_project(tmp_path, conn, sync_type="full")
    columns = {
        c.name: c for c in project.materialize("items_sync")["dagster/column_schema"].columns
    }
    assert {name: columns[name].type for name in expected} == expected
    assert columns["amount"].description == "Arrow type: decimal128(12, 2)"
