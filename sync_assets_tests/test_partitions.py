"""Partitioned objects: a partition is a half-open window on the source and an exact slice
replace on the target. Re-materializing one partition must never touch another, whatever the
partition column's type (date, string, timestamptz) and the target.
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
from sync_assets_tests.harness import assert_same_rows, write_marker

DAYS = ("2025-03-01", "2025-03-10")


def partitioned_project(tmp_path, target_conn, column: str, **obj):
    spec = {
        "object_id": "items_daily",
        "sync_type": "full",
        "target": {"connection": "tgt", "schema": "sales", "object": "items_daily"},
        "partition": {
            "column": column,
            "granularity": "daily",
            "start": "2025-03-01",
            "end": "2025-03-11",
        },
    }
    return items_project(tmp_path, target_conn, **{**spec, **obj})


@pytest.mark.parametrize("column", ["day", "day_str", "ts"])
def test_replace_one_partition_leaves_others(tmp_path, target_conn, column):
    project, src = partitioned_project(tmp_path, target_conn, column)
    meta = project.materialize("items_daily", partition_range=DAYS)
    assert meta["sync/range_row_count"] == 300
    original = source_rows(src)
    assert_same_rows(original, project.target_table("items_daily"), "id")

    update_items(src, "day IN (DATE '2025-03-03', DATE '2025-03-05')")
    delete_items(src, "id IN (2, 12)")  # both on 2025-03-03
    insert_items(src, 1002, 1)  # 1002 % 10 = 2 -> 2025-03-03
    meta = project.materialize("items_daily", partition="2025-03-03")
    assert meta["dagster/partition_row_count"] == 29
    assert (meta["sync/rows_inserted"], meta["sync/rows_deleted"]) == (29, 30)

    target = project.target_table("items_daily")
    day3 = "day = DATE '2025-03-03'"
    expected_day3 = source_rows(src, day3).to_pylist()
    untouched = [r for r in original.to_pylist() if str(r["day"]) != "2025-03-03"]
    import pyarrow as pa

    expected = pa.Table.from_pylist(expected_day3 + untouched, schema=original.schema)
    assert_same_rows(expected, target, "id")  # 2025-03-05 still holds the old values

    before = write_marker(project, "items_daily")
    meta = project.materialize("items_daily", partition="2025-03-03")
    assert "sync/skipped" in meta and write_marker(project, "items_daily") == before


def test_partitioned_merge_deletes_only_inside_the_window(tmp_path, target_conn):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="merge", merge_keys=["id"]
    )
    project.materialize("items_daily", partition_range=DAYS)
    delete_items(src, "id IN (3, 4)")  # 2025-03-04 and 2025-03-05
    update_items(src, "id = 13")  # 2025-03-04
    meta = project.materialize("items_daily", partition="2025-03-04")
    assert (meta["sync/rows_updated"], meta["sync/rows_deleted"]) == (1, 1)
    ids = set(project.target_table("items_daily").column("id").to_pylist())
    assert 3 not in ids and 4 in ids  # 4 lives in a partition this run did not own
    project.materialize("items_daily", partition="2025-03-05")
    assert_same_rows(source_rows(src), project.target_table("items_daily"), "id")


def test_incremental_watermark_per_partition(tmp_path, target_conn):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="incremental", sync_column="updated_at"
    )
    project.materialize("items_daily", partition_range=DAYS)
    insert_items(src, 1002, 1, stamp="2025-04-01 00:00:00")  # 2025-03-03
    insert_items(src, 1006, 1, stamp="2025-04-02 00:00:00")  # 2025-03-07
    meta = project.materialize("items_daily", partition="2025-03-03")
    assert meta["sync/rows_inserted"] == 1
    ids = set(project.target_table("items_daily").column("id").to_pylist())
    assert 1002 in ids and 1006 not in ids
    # a range run now sees partitions at different watermarks: each keeps its own bound
    meta = project.materialize("items_daily", partition_range=DAYS)
    assert meta["sync/rows_inserted"] == 1
    assert_same_rows(source_rows(src), project.target_table("items_daily"), "id")
    meta = project.materialize("items_daily", partition_range=DAYS)
    assert meta["sync/rows_inserted"] == 0 and "sync/skipped" in meta


@pytest.mark.parametrize("target_kind", ["parquet", "delta", "duckdb"])
@pytest.mark.parametrize(
    "granularity, key, rows",
    [
        ("hourly", "2025-03-01-00:00", 5),  # ids 10..50 step 10 fall in the first hour
        ("weekly", "2025-03-02", 210),  # Dagster weeks start on Sunday: 03-02 .. 03-08
        ("monthly", "2025-03-01", 300),
    ],
)
def test_other_granularities(tmp_path, target_conn, granularity, key, rows):
    project, src = partitioned_project(tmp_path, target_conn, "ts")
    project.update_object(
        "items_daily",
        partition={
            "column": "ts",
            "granularity": granularity,
            "start": "2025-01-05",
            "end": "2025-06-01",
        },
    )
    meta = project.materialize("items_daily", partition=key)
    assert meta["dagster/partition_row_count"] == rows
    assert project.target_table("items_daily").num_rows == rows
