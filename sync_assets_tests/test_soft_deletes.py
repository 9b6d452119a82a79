"""Soft deletes of whole-source merges on every target: a key missing from the source keeps
its last values and gets `_is_deleted = true` and `_deleted_at`; a key that comes back is live
again; a row marked already keeps its first stamp; a partition run marks only inside its
window. (Change-stream soft deletes are in test_change_tracking.py and test_cdf.py.)"""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from sync_assets_tests.data import delete_items, insert_items, items_project, source_rows
from sync_assets_tests.harness import assert_same_rows
from sync_assets_tests.test_partitions import DAYS, partitioned_project


def _state(project, object_id: str, target_kind: str) -> dict:
    """id -> (name, _is_deleted, has a _deleted_at). fakesnow fetches NULL timestamps as
    1970-01-01 (its own result conversion), so on Snowflake the stamps are read as text."""
    target = project.target(object_id)
    if target_kind == "snowflake":
        with target.session(autocommit=True) as s:
            rows = s.rows(
                f'SELECT "id", "name", "_is_deleted", "_deleted_at" IS NOT NULL FROM {target.table_sql}'
            )
        return {int(r[0]): (r[1], bool(r[2]), bool(r[3])) for r in rows}
    table = project.target_table(object_id).to_pylist()
    return {r["id"]: (r["name"], r["_is_deleted"], r["_deleted_at"] is not None) for r in table}


def _stamp(project, object_id: str, item_id: int):
    target = project.target(object_id)
    if target.kind in ("deltalake", "parquet"):
        return next(
            r["_deleted_at"]
            for r in project.target_table(object_id).to_pylist()
            if r["id"] == item_id
        )
    with target.session(autocommit=True) as s:
        return s.scalar(
            f'SELECT CAST("_deleted_at" AS VARCHAR(64)) FROM {target.table_sql} WHERE "id" = {item_id}'
        )


def test_merge_marks_missing_keys_and_revives_returning_ones(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], soft_delete=True
    )
    assert project.materialize("items_sync")["sync/rows_inserted"] == 300
    delete_items(src, "id BETWEEN 10 AND 12")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]) == (
        0,
        0,
        3,
    )
    state = _state(project, "items_sync", target_kind)
    assert (
        len(state) == 300
        and state[10] == ("item 10", True, True)
        and state[9] == ("item 9", False, False)
    )
    stamp = _stamp(project, "items_sync", 10)

    insert_items(src, 11, 1)  # key 11 comes back
    delete_items(src, "id = 20")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]) == (
        0,
        1,
        1,
    )
    state = _state(project, "items_sync", target_kind)
    assert state[11] == ("new 11", False, False) and state[20] == ("item 20", True, True)
    assert state[10] == ("item 10", True, True) and _stamp(project, "items_sync", 10) == stamp
    live = source_rows(src).column("id").to_pylist()
    assert sorted(k for k, v in state.items() if not v[1]) == sorted(live)
    columns = ["id", "name", "amount", "flag", "day", "day_str", "ts", "payload"]
    table = project.target_table("items_sync")
    live_rows = table.filter(pc.invert(table["_is_deleted"]))
    assert_same_rows(source_rows(src).select(columns), live_rows, "id")


@pytest.mark.parametrize("target_kind", ["delta", "parquet", "duckdb", "postgres"])
def test_partitioned_merge_marks_only_inside_the_window(tmp_path, target_conn, target_kind):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="merge", merge_keys=["id"], soft_delete=True
    )
    project.materialize("items_daily", partition_range=DAYS)
    delete_items(src, "id IN (3, 4)")  # 2025-03-04 and 2025-03-05
    meta = project.materialize("items_daily", partition="2025-03-04")
    assert meta["sync/rows_deleted"] == 1
    state = _state(project, "items_daily", target_kind)
    assert state[3][1:] == (True, True) and state[4][1:] == (False, False)
