"""The models' tables synced next to them (issue: new-model detection, `sync_tables`): each
table whose Direct Lake entity or M source names a database we have a connection for
becomes a generated sync object, an asset upstream of `semantic_models`, and the semantic
view reads the table it writes. The lakehouse is a real Delta folder, Snowflake the fakesnow
server; the Fabric REST API is the local stand-in of test_fabric_api.py (it has no local
equivalent), and its Entra ID token is a fixed string (no identity provider here)."""

from __future__ import annotations

import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sync_assets.config.loader import ConfigError, load_project
from sync_assets.semantic import defs as semantic_defs
from sync_assets.semantic.defs import KEY, SENSOR
from sync_assets.semantic.sources import Location, locate, match_connection
from sync_assets.semantic.tables import plan_tables
from sync_assets_tests.conftest import snowflake_connection
from sync_assets_tests.harness import Project
from sync_assets_tests.test_fabric_api import WS, FabricStandIn

SAMPLES = Path(__file__).parent / "semantic_samples"
ORDERS = pa.table(
    {
        "order_id": pa.array(range(1, 501), pa.int64()),
        "order_date": pa.array([f"2026-11-{1 + i % 28:02d}" for i in range(500)]),
        "amount": pa.array([i * 1.25 for i in range(500)], pa.float64()),
        "status": pa.array(["paid" if i % 3 else "open" for i in range(500)]),
    }
)


def _lake(tmp_path) -> dict:
    root = tmp_path / "lake"
    write_deltalake(str(root / "sales" / "orders"), ORDERS)
    return {"type": "delta", "root": str(root)}


def _project(tmp_path, server, source: dict, sync_tables: dict) -> Project:
    project = Project(tmp_path, {"lake": _lake(tmp_path), "snow": snowflake_connection(server)}, [])
    project.set_section(
        "semantic_models",
        {"source": source, "target": "snow", "create_views": False, "sync_tables": sync_tables},
    )
    return project


def _pbip(tmp_path) -> dict:
    shutil.copytree(SAMPLES, tmp_path / "models")
    return {"type": "pbip_folder", "path": str(tmp_path / "models")}


def _materialize_model(project: Project, model_id: str) -> dict:
    if not project.instance.has_dynamic_partition("semantic_models", model_id):
        project.instance.add_dynamic_partitions("semantic_models", [model_id])
    defs = project.definitions()
    result = dg.materialize(
        [defs.get_assets_def(KEY)], instance=project.instance, partition_key=model_id
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def test_direct_lake_tables_become_sync_assets_upstream_of_the_model(tmp_path, fakesnow_server):
    project = _project(
        tmp_path, fakesnow_server, _pbip(tmp_path), {"sources": {"DatabaseQuery": "lake"}}
    )
    config = load_project(project.configs)
    # both sample models read sales.orders through DatabaseQuery: one object serves both
    [obj] = [o for o in config.sync_objects if o.group == "semantic_models"]
    assert (obj.object_id, obj.source.connection, obj.source.schema_, obj.source.object) == (
        "pbi_lake_sales_orders", "lake", "sales", "orders",
    )  # fmt: skip
    assert (obj.target.connection, obj.target.schema_, obj.target.object) == (
        "snow", "sales", "orders",
    )  # fmt: skip
    assert config.semantic_tables == {
        "Sales": {"Sales": "pbi_lake_sales_orders"},
        "SalesBim": {"Sales": "pbi_lake_sales_orders"},
    }
    skipped = config.semantic_skipped["Sales"]
    # the date table's M source opens the same endpoint, which no mapping names
    assert skipped["Order Date"] == (
        "no connection is its source abc.datawarehouse.fabric.microsoft.com/1f0e-lakehouse "
        "(map it under sync_tables.sources: abc.datawarehouse.fabric.microsoft.com/1f0e-lakehouse)"
    )
    assert skipped["Time Intelligence"].startswith("it has no partition")

    # lineage: lake/sales/orders -> snow/sales/orders -> semantic_models
    defs = project.definitions()
    table_key = dg.AssetKey(["snow", "sales", "orders"])
    assert defs.get_assets_def(KEY).asset_deps[KEY] == {table_key}
    assert defs.get_assets_def(table_key).asset_deps[table_key] == {
        dg.AssetKey(["lake", "sales", "orders"])
    }

    meta = project.materialize("pbi_lake_sales_orders")
    assert meta["sync/rows_inserted"] == 500
    assert (
        project.target_table("pbi_lake_sales_orders")
        .sort_by("order_id")
        .equals(ORDERS.select(project.target_table("pbi_lake_sales_orders").column_names))
    )
    model = _materialize_model(project, "Sales")
    database = config.connections["snow"].database
    view_sql = model["semantic/view_sql"]
    assert f'"{database}"."sales"."orders"' in view_sql
    assert "table 'Order Date' is not synced: no connection is its source" in str(
        model["semantic/notes"]
    )


def test_a_mapping_by_endpoint_reaches_the_m_sourced_table_too(tmp_path, fakesnow_server):
    dates = pa.table({"Date": ["2026-11-01"], "Year": pa.array([2026], pa.int64())})
    project = _project(
        tmp_path,
        fakesnow_server,
        _pbip(tmp_path),
        {"sources": {"abc.datawarehouse.fabric.microsoft.com/1f0e-lakehouse": "lake"},
         "schema": "PBI"},
    )  # fmt: skip
    write_deltalake(str(tmp_path / "lake" / "dim" / "dates"), dates)
    config = load_project(project.configs)
    assert config.semantic_tables["Sales"] == {
        "Sales": "pbi_lake_sales_orders",
        "Order Date": "pbi_lake_dim_dates",
    }
    targets = {o.object_id: o.target.schema_ for o in config.sync_objects}
    assert targets == {"pbi_lake_sales_orders": "PBI", "pbi_lake_dim_dates": "PBI"}
    assert project.materialize("pbi_lake_dim_dates")["sync/rows_inserted"] == 1


def test_an_unknown_source_connection_is_a_config_error(tmp_path, fakesnow_server):
    project = _project(
        tmp_path, fakesnow_server, _pbip(tmp_path), {"sources": {"DatabaseQuery": "nowhere"}}
    )
    with pytest.raises(ConfigError) as info:
        load_project(project.configs)
    assert any(
        ": semantic_models: field 'sync_tables.sources': unknown connection 'nowhere'" in p
        for p in info.value.problems
    )


def test_sources_match_the_one_connection_with_the_same_database():
    from sync_assets.config.models import FabricLakehouseConnection, TsqlConnection

    sql = locate('let s = Sql.Database("srv.database.windows.net", "Sales") in s', "Q")
    assert sql == Location("sql", "srv.database.windows.net", "Sales", "Q")
    onelake = locate(
        'AzureStorage.DataLake("https://onelake.dfs.fabric.microsoft.com/ws-9/lh-7", '
        "[HierarchicalNavigation=true])"
    )
    assert onelake == Location("onelake", "ws-9", "lh-7")
    assert locate('Sql.Databases("srv")') is None  # a server, no database: nothing to name
    tsql = TsqlConnection(type="tsql", server="tcp:SRV.database.windows.net,1433", database="sales")
    lake = FabricLakehouseConnection(
        type="fabric_lakehouse", workspace="ws-9", lakehouse="lh-7.Lakehouse"
    )
    connections = {"dw": tsql, "lh": lake}
    assert match_connection(sql, connections, {}) == "dw"
    assert match_connection(onelake, connections, {}) == "lh"
    assert match_connection(sql, {**connections, "dw2": tsql}, {}) is None  # ambiguous
    assert match_connection(sql, {**connections, "dw2": tsql}, {"Q": "dw2"}) == "dw2"


class _QuickFabric(FabricStandIn):
    """The documented shapes with no waits; every model answers the TMDL request."""

    waits = {"429": "0", "202": "0", "poll": "0"}

    def do_POST(self):
        self.path = self.path.replace(
            "m2/getDefinition?format=TMDL", "m2/getDefinition?format=TMSL"
        )
        super().do_POST()


@pytest.fixture
def fabric_url():
    _QuickFabric.calls, _QuickFabric.polls = [], {}
    _QuickFabric.throttled = {"list": False}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QuickFabric)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_fabric_workspace_end_to_end(tmp_path, fakesnow_server, fabric_url, monkeypatch):
    monkeypatch.setattr(semantic_defs, "_token", lambda source: lambda: "tok-1")
    source = {"type": "fabric_workspace", "workspace_id": WS, "api_url": fabric_url}
    project = _project(tmp_path, fakesnow_server, source, {"sources": {"DatabaseQuery": "lake"}})
    # no definitions are read at load time: no table objects until a model has synced
    assert plan_tables(load_project(project.configs).semantic_models, {}, tmp_path).objects == []
    assert not [c for c in _QuickFabric.calls if "getDefinition" in c]

    defs = project.definitions()
    context = dg.build_sensor_context(instance=project.instance, definitions=defs)
    result = defs.get_sensor_def(SENSOR)(context)
    # the 403 model and the failed operation are reported; the other two are requested
    assert sorted(r.partition_key for r in result.run_requests) == ["m1", "m2"]
    [added] = result.dynamic_partitions_requests
    assert sorted(added.partition_keys) == ["m1", "m2", "m3", "m4"]
    project.instance.add_dynamic_partitions("semantic_models", list(added.partition_keys))
    first = _materialize_model(project, "m1")
    assert first["semantic/model_name"] == "Sales" and first["semantic/sync_count"] == 1
    assert "reload the code location" in str(first["semantic/notes"])

    # after the reload, the synced model's table is an asset upstream of the model
    config = load_project(project.configs)
    assert config.semantic_tables == {"m1": {"Sales": "pbi_lake_sales_orders"}}
    assert project.materialize("pbi_lake_sales_orders")["sync/rows_inserted"] == 500
    again = _materialize_model(project, "m1")
    assert again["semantic/sync_count"] == 2
    assert "reload the code location" not in str(again["semantic/notes"])

    job = project.definitions().get_job_def("semantic_models_sync_all")
    run = job.execute_in_process(instance=project.instance, raise_on_error=False)
    assert not run.success  # m3 and m4 fail, named; m1 and m2 were still synced
    [failure] = [e for e in run.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "2 semantic model(s) failed: m3: semantic model 'Secret' (m3)" in message
    synced = {
        e.materialization.partition: e.materialization.metadata["semantic/sync_count"].value
        for e in run.get_asset_materialization_events()
    }
    assert synced == {"m1": 3, "m2": 1}


class _ScannerFabric(_QuickFabric):
    """Two readable models, and the admin API's list of modified workspaces."""

    modified = {"value": False}

    def do_GET(self):
        if self.path.startswith("/v1.0/myorg/admin/workspaces/modified?"):
            self.calls.append(f"GET {self.path} {self.headers.get('Authorization')}")
            return self._send(200, [{"id": WS}] if self.modified["value"] else [])
        if self.path == f"/v1/workspaces/{WS}/semanticModels?continuationToken=t2":
            return self._send(200, {"value": []})
        super().do_GET()


def test_with_the_scanner_api_an_unmodified_workspace_reads_no_definition(
    tmp_path, fakesnow_server, monkeypatch
):
    from sync_assets.semantic.fabric_api import ADMIN_SCOPE

    def token(source, scope=None):
        return lambda: "tok-admin" if scope == ADMIN_SCOPE else "tok-1"

    monkeypatch.setattr(semantic_defs, "_token", token)
    _ScannerFabric.calls, _ScannerFabric.polls = [], {}
    _ScannerFabric.throttled, _ScannerFabric.modified = {"list": True}, {"value": False}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScannerFabric)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    source = {"type": "fabric_workspace", "workspace_id": WS, "api_url": url,
              "changes_from": "scanner", "admin_api_url": f"{url}/v1.0/myorg"}  # fmt: skip
    project = _project(tmp_path, fakesnow_server, source, {"sources": {"DatabaseQuery": "lake"}})

    def tick(cursor):
        _ScannerFabric.calls.clear()
        defs = project.definitions()
        context = dg.build_sensor_context(
            instance=project.instance, definitions=defs, cursor=cursor
        )
        return defs.get_sensor_def(SENSOR)(context)

    def reads() -> int:
        return sum("getDefinition" in c for c in _ScannerFabric.calls)

    try:
        first = tick(None)
        assert sorted(r.partition_key for r in first.run_requests) == ["m1", "m2"]
        assert first.cursor is None  # runs pending: the next tick checks fully again
        for model_id in ("m1", "m2"):
            _materialize_model(project, model_id)
        in_sync = tick(None)
        assert in_sync.run_requests == [] and reads() == 2
        assert in_sync.cursor is not None  # every model in sync: from now on, ask first

        quiet = tick(in_sync.cursor)
        assert quiet.run_requests == [] and reads() == 0
        assert "not modified since" in quiet.skip_reason.skip_message
        [asked] = _ScannerFabric.calls
        assert "excludePersonalWorkspaces=true" in asked and asked.endswith("Bearer tok-admin")
        assert "modifiedSince=" + in_sync.cursor[:10] in asked

        _ScannerFabric.modified["value"] = True
        checked = tick(in_sync.cursor)
        assert checked.run_requests == [] and reads() == 2  # modified: a full check
        assert checked.cursor > in_sync.cursor
    finally:
        server.shutdown()
