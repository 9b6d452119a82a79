"""Delta merges look only at the files the incoming keys can touch (delta_prune)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sync_assets import delta_prune
from sync_assets.delta_prune import with_key_range
from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import assert_same_rows


def _reader(table: pa.Table, size: int = 2) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(size))


def test_range_of_each_key_type_and_rows_kept():
    table = pa.table(
        {
            "id": pa.array([7, None, 3, 12], pa.int64()),
            "code": ["b", "a'x", None, "c"],
            "day": [dt.date(2025, 1, 3), dt.date(2025, 1, 1), None, None],
            "price": [1.5, 2.0, 3.0, 4.0],  # not a key
        }
    )
    reader, bounds = with_key_range(_reader(table), ["id", "code", "day"])
    assert reader.read_all().equals(table)
    assert bounds == (
        't."id" >= 3 AND t."id" <= 12 AND t."code" >= \'a\'\'x\' AND t."code" <= \'c\' '
        "AND t.\"day\" >= CAST('2025-01-01' AS DATE) AND t.\"day\" <= CAST('2025-01-03' AS DATE)"
    )


def test_no_range_for_unranged_types_null_keys_or_a_big_stream(monkeypatch):
    floats = pa.table({"k": [1.0, 2.0]})
    assert with_key_range(_reader(floats), ["k"])[1] is None
    nulls = pa.table({"k": pa.array([None, None], pa.int64())})
    assert with_key_range(_reader(nulls), ["k"])[1] is None
    monkeypatch.setattr(delta_prune, "MAX_HELD_ROWS", 3)
    big = pa.table({"k": list(range(10))})
    reader, bounds = with_key_range(_reader(big), ["k"])
    assert bounds is None and reader.read_all().equals(big)  # nothing lost past the hold


def test_incremental_merge_skips_untouched_files(tmp_path):
    target = {"type": "delta", "root": str(tmp_path / "lake")}
    project, src = items_project(
        tmp_path, target, 300, sync_type="incremental", sync_column="updated_at", merge_keys=["id"]
    )
    project.materialize("items_sync")
    # three more batches of new keys: each merge adds a file of its own
    for i, first in enumerate((301, 401, 501)):
        insert_items(src, first, 100, stamp=f"2025-04-0{i + 1} 00:00:00")
        project.materialize("items_sync")
    update_items(src, "id > 550")  # the newest keys only: they live in the newest file
    meta = project.materialize("items_sync")
    assert meta["sync/rows_updated"] == 50
    assert meta["sync/delta_files_skipped"] >= 3, meta
    assert meta["sync/delta_files_rewritten"] == 1
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    # an update spread over old and new keys is merged exactly too (the range spans them)
    update_items(src, "id IN (5, 590)", stamp="2025-06-01 00:00:00")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_updated"] == 2
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def test_merge_that_deletes_missing_rows_is_not_ranged(tmp_path):
    """A merge that deletes target rows the source lacks must see every target row: rows
    outside the incoming key range are exactly the ones it may delete."""
    target = {"type": "delta", "root": str(tmp_path / "lake")}
    project, src = items_project(tmp_path, target, 200, sync_type="merge", merge_keys=["id"])
    project.materialize("items_sync")
    delete_items(src, "id < 20")  # all below the range of what stays
    update_items(src, "id > 190")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_deleted"], meta["sync/rows_updated"]) == (19, 10)
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
