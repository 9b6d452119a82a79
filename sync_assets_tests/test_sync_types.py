"""Every sync type on every target: exact equality with the source through a change cycle.

Source: a real DuckDB file. Targets: Delta and Parquet folders, a DuckDB file and a real
PostgreSQL server (see conftest). Each test materializes through Dagster.
"""

from __future__ import annotations

import pytest

from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows, duck_table, write_marker


def make_project(tmp_path, target_conn, **obj) -> tuple[Project, object]:
    return items_project(tmp_path, target_conn, **obj)


def check_rerun_writes_nothing(project: Project) -> None:
    before = write_marker(project, "items_sync")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_read"] == 0 and meta["sync/rows_inserted"] == 0
    assert "sync/skipped" in meta
    assert write_marker(project, "items_sync") == before


def test_full(tmp_path, target_conn):
    project, src = make_project(tmp_path, target_conn, sync_type="full")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_read"] == 300 and meta["dagster/row_count"] == 300
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)

    insert_items(src, 1000, 10)
    update_items(src, "id <= 5")
    delete_items(src, "id BETWEEN 100 AND 102")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 307 and meta["sync/rows_deleted"] == 300
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)


def test_incremental_append(tmp_path, target_conn):
    project, src = make_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 300 and meta["sync/watermark"] == "2025-03-01T00:05:00"
    insert_items(src, 1000, 25)
    meta = project.materialize("items_sync")
    assert meta["sync/rows_read"] == 25 and meta["sync/rows_inserted"] == 25
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)


def test_incremental_merge(tmp_path, target_conn):
    project, src = make_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at", merge_keys=["id"]
    )
    project.materialize("items_sync")
    insert_items(src, 1000, 10)
    update_items(src, "id % 50 = 0")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_read"], meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (
        16,
        10,
        6,
    )
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)


def test_merge_whole_source_with_deletes(tmp_path, target_conn):
    project, src = make_project(tmp_path, target_conn, sync_type="merge", merge_keys=["id"])
    project.materialize("items_sync")
    insert_items(src, 1000, 10)
    update_items(src, "id % 60 = 0")
    delete_items(src, "id IN (7, 8, 9)")
    meta = project.materialize("items_sync")
    counts = (meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"])
    assert counts == (10, 5, 3)
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)


def test_merge_with_watermark_and_column_mappings(tmp_path, target_conn):
    mappings = {
        "id": "item_id",
        "upper(name)": "item_name",
        "amount * 2": "double_amount",
        "updated_at": "updated_at",
    }
    project, src = make_project(
        tmp_path,
        target_conn,
        sync_type="merge",
        merge_keys=["item_id"],
        sync_column="updated_at",
        column_mappings=mappings,
        filter_condition="flag OR id > 1000",
    )
    expected_sql = (
        "id AS item_id, upper(name) AS item_name, amount * 2 AS double_amount, updated_at"
    )
    project.materialize("items_sync")
    update_items(src, "id IN (2, 4, 5)")  # 5 is filtered out (flag false)
    insert_items(src, 1001, 3)
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (3, 2)
    want = duck_table(src, f"SELECT {expected_sql} FROM items WHERE flag OR id > 1000")
    assert_same_rows(want, project.target_table("items_sync"), "item_id")


def test_append_only(tmp_path, target_conn):
    project, src = make_project(tmp_path, target_conn, sync_type="append_only", sync_column="id")
    project.materialize("items_sync")
    insert_items(src, 1000, 40)
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 40 and meta["sync/watermark"] == "1039"
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    check_rerun_writes_nothing(project)


def test_append_only_with_keys_never_updates(tmp_path, target_conn):
    project, src = make_project(
        tmp_path, target_conn, sync_type="append_only", sync_column="updated_at", merge_keys=["id"]
    )
    project.materialize("items_sync")
    before = source_rows(src, "id = 3")
    update_items(src, "id = 3")  # moves its watermark, but append_only never rewrites a row
    insert_items(src, 1000, 5, stamp="2025-06-01 00:00:00")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (5, 0)
    target = project.target_table("items_sync")
    assert target.num_rows == 305
    row = [r for r in target.to_pylist() if r["id"] == 3][0]
    assert row["name"] == before.to_pylist()[0]["name"]


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_merge_rejects_duplicate_source_keys(tmp_path, target_conn):
    project, src = make_project(tmp_path, target_conn, sync_type="merge", merge_keys=["day"])
    with pytest.raises(Exception, match="not unique"):
        project.materialize("items_sync")


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "delta"])
def test_target_edited_by_hand_is_synced_again(tmp_path, target_conn, target_kind):
    """A stored fingerprint alone does not skip a write when the target lost rows."""
    project, src = make_project(tmp_path, target_conn, sync_type="full")
    project.materialize("items_sync")
    target = project.target("items_sync")
    if target_kind == "delta":
        from deltalake import DeltaTable

        DeltaTable(target.location).delete("id <= 10")
    else:
        with target.session() as s:
            s.execute(f"DELETE FROM {target.table_sql} WHERE id <= 10")
            s.commit()
    meta = project.materialize("items_sync")
    assert "sync/skipped" not in meta
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres"])
def test_dropped_sql_table_is_reloaded_not_resumed(tmp_path, target_conn):
    project, src = make_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    project.materialize("items_sync")
    target = project.target("items_sync")
    with target.session() as s:
        s.execute(f"DROP TABLE {target.table_sql}")
        s.commit()
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 300 and meta["sync/initial_load"] is True
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize("target_kind", ["duckdb", "delta"])
def test_watermark_never_moves_back(tmp_path, target_conn):
    """Deleting the newest source rows lowers max(sync_column); the stored watermark stays."""
    project, src = make_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    project.materialize("items_sync")
    delete_items(src, "id > 290")  # the ten newest rows
    meta = project.materialize("items_sync")
    assert "sync/skipped" in meta and meta["sync/watermark"] == "2025-03-01T00:05:00"
    insert_items(src, 2000, 5, stamp="2025-02-01 00:00:00")  # below the old max: late, not re-read
    insert_items(src, 3000, 5, stamp="2025-06-01 00:00:00")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 5
    ids = project.target_table("items_sync").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 305


@pytest.mark.parametrize("target_kind", ["parquet"])
def test_skip_unchanged_false_always_writes(tmp_path, target_conn):
    project, src = make_project(tmp_path, target_conn, sync_type="full", skip_unchanged=False)
    project.materialize("items_sync")
    before = write_marker(project, "items_sync")
    meta = project.materialize("items_sync")
    assert "sync/skipped" not in meta and meta["sync/rows_inserted"] == 300
    assert write_marker(project, "items_sync") != before
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_skip_unchanged_false_with_a_sync_column(tmp_path, target_conn):
    project, src = make_project(
        tmp_path, target_conn, sync_type="full", sync_column="updated_at", skip_unchanged=False
    )
    meta = project.materialize("items_sync")
    assert meta["sync/watermark"] == "2025-03-01T00:05:00"
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
