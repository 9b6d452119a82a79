"""Fabric lakehouse on OneLake (Azurite) and Delta table maintenance.

The sync-type, partition, schema and kill -9 matrices already run on target kind `onelake`
(a fabric_lakehouse connection with production-shaped abfss://…@onelake… URLs served by
Azurite); these tests cover what is particular to lakehouses.
"""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from sync_assets.config.models import FabricLakehouseConnection
from sync_assets.lakehouse import delta_location, storage_options
from sync_assets.secrets import connection_secrets
from sync_assets_tests.conftest import onelake_connection
from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import assert_same_rows


def test_onelake_urls_and_storage_options():
    conn = FabricLakehouseConnection(
        type="fabric_lakehouse",
        workspace="Sales WS",
        lakehouse="lh",
        authentication="service_principal",
        tenant_id="t",
        client_id="c",
        client_secret="s3",
    )
    assert (
        delta_location(conn, "/x", "dbo", "orders")[0]
        == "abfss://Sales WS@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables/dbo/orders"
    )
    assert storage_options(conn) == {
        "use_fabric_endpoint": "true",
        "azure_client_id": "c",
        "azure_client_secret": "s3",
        "azure_tenant_id": "t",
    }
    flat = conn.model_copy(update={"schemas": False, "authentication": "azure_cli"})
    assert delta_location(flat, "/x", "dbo", "orders") == (
        "abfss://Sales WS@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables/orders",
        {"use_fabric_endpoint": "true", "use_azure_cli": "true"},
    )
    keyed = conn.model_copy(
        update={"storage_options": {"azure_storage_account_key": "k3y", "timeout": "30s"}}
    )
    assert connection_secrets(keyed) == ["s3", "k3y"]


def test_lakehouse_to_warehouse_through_the_change_data_feed(tmp_path, azurite):
    """The demo's flow on OneLake: a source lands in the lakehouse (CDF on), a cdf object
    carries its changes on to a warehouse; the second asset depends on the first."""
    lake = onelake_connection(azurite, table_properties={"delta.enableChangeDataFeed": "true"})
    project, src = items_project(tmp_path, lake, sync_type="merge", merge_keys=["id"])
    onward = {
        "object_id": "items_onward",
        "source": {"connection": "tgt", "schema": "sales", "object": "items"},
        "target": {"connection": "wh", "object": "items"},
        "sync_type": "cdf",
        "merge_keys": ["id"],
    }
    connections = dict(
        project.connections, wh={"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    )
    project.write(connections, project.objects + [onward])
    spec = next(
        s
        for s in project.definitions().resolve_all_asset_specs()
        if s.key.path[-1] == "items" and s.key.path[0] == "wh"
    )
    assert [d.asset_key.path for d in spec.deps] == [["tgt", "sales", "items"]]

    project.materialize("items_sync")
    assert project.materialize("items_onward")["sync/rows_inserted"] == 300
    insert_items(src, 1000, 5)
    update_items(src, "id % 20 = 0")
    delete_items(src, "id % 30 = 0")
    project.materialize("items_sync")
    meta = project.materialize("items_onward")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]) == (
        5,
        10,
        10,
    )
    assert_same_rows(source_rows(src), project.target_table("items_onward"), "id")


@pytest.mark.parametrize("target_kind", ["delta"])
def test_optimize_and_vacuum_after_writes(tmp_path, target_conn):
    conn = dict(target_conn, maintenance={"optimize": True, "vacuum_retention_hours": 0})
    project, src = items_project(
        tmp_path,
        conn,
        sync_type="incremental",
        sync_column="updated_at",
        merge_keys=["id"],
        zorder_by=["day"],
    )
    project.materialize("items_sync")
    insert_items(src, 1000, 50)
    meta = project.materialize("items_sync")
    assert (
        "files ->" in meta["sync/delta_optimize"] and meta["sync/delta_vacuum_files_removed"] >= 1
    )
    assert "sync/delta_maintenance_error" not in meta
    target = project.target("items_sync")
    assert len(DeltaTable(target.location).file_uris()) == 1
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
