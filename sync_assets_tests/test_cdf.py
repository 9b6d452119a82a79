"""Delta change data feed as a source (`sync_type: cdf`), on real Delta tables, into every
target: first full load, net changes with deletes, reruns, fallbacks, kill -9."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from sync_assets_tests.harness import Project, assert_same_rows

CDF_ON = {"delta.enableChangeDataFeed": "true"}


def make_source(path, n=200, cdf=True):
    table = pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "name": [f"n{i}" for i in range(1, n + 1)],
            "amount": pa.array([i * 1.5 for i in range(1, n + 1)], pa.float64()),
        }
    )
    write_deltalake(str(path), table, configuration=CDF_ON if cdf else None)


def change_source(path, base=1000):
    t = DeltaTable(str(path))
    t.update(predicate="id % 10 = 0", updates={"name": "'changed'", "amount": "amount + 1"})
    t.delete("id % 25 = 0")
    write_deltalake(
        str(path),
        pa.table(
            {
                "id": pa.array([base, base + 1], pa.int64()),
                "name": ["new", "new"],
                "amount": [1.0, 2.0],
            }
        ),
        mode="append",
    )
    # a key updated and then deleted between two syncs leaves only its delete
    DeltaTable(str(path)).update(predicate="id = 3", updates={"name": "'gone soon'"})
    DeltaTable(str(path)).delete("id = 3")


def source_table(path) -> pa.Table:
    return DeltaTable(str(path)).to_pyarrow_table()


def cdf_project(tmp_path, target_conn, **extra):
    lake = tmp_path / "lake"
    make_source(lake / "dbo" / "orders", cdf=extra.pop("cdf", True))
    spec = {
        "object_id": "orders_cdf",
        "source": {"connection": "lake", "schema": "dbo", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        "sync_type": "cdf",
        "merge_keys": ["id"],
        "batch_size": 64,
        **extra,
    }
    project = Project(
        tmp_path, {"lake": {"type": "delta", "root": str(lake)}, "tgt": target_conn}, [spec]
    )
    return project, lake / "dbo" / "orders"


def test_cdf_full_then_changes_then_nothing(tmp_path, target_conn):
    project, src = cdf_project(tmp_path, target_conn)
    first = project.materialize("orders_cdf")
    assert (
        first["sync/rows_inserted"] == 200
        and first["sync/cdf_decision"] == "first sync: no Delta version stored yet"
    )
    assert_same_rows(source_table(src), project.target_table("orders_cdf"), "id")

    change_source(src)
    second = project.materialize("orders_cdf")
    assert second["sync/cdf_decision"] == "changes of versions 1 to 5"
    # 20 updated (id % 10) minus 4 later deleted (id % 50 = 0 -> 50, 100, 150, 200) = 16; deletes: 8 (id % 25) + id 3
    assert (
        second["sync/rows_inserted"],
        second["sync/rows_updated"],
        second["sync/rows_deleted"],
    ) == (2, 16, 9)
    assert_same_rows(source_table(src), project.target_table("orders_cdf"), "id")

    third = project.materialize("orders_cdf")
    assert third["sync/skipped"] == "no changes since Delta version 5"


@pytest.mark.parametrize("target_kind", ["delta", "postgres"])
def test_cdf_soft_deletes(tmp_path, target_conn):
    project, src = cdf_project(tmp_path, target_conn, soft_delete=True)
    project.materialize("orders_cdf")
    change_source(src)
    meta = project.materialize("orders_cdf")
    assert meta["sync/rows_deleted"] == 9
    rows = {r["id"]: r for r in project.target_table("orders_cdf").to_pylist()}
    assert len(rows) == 202 and rows[25]["_is_deleted"] is True and rows[25]["name"] == "n25"
    assert rows[1]["_is_deleted"] is False and rows[10]["name"] == "changed"


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_cdf_falls_back_to_full_when_versions_are_gone(tmp_path, target_conn):
    project, src = cdf_project(tmp_path, target_conn)
    project.materialize("orders_cdf")
    change_source(src)
    DeltaTable(str(src)).create_checkpoint()
    os.remove(src / "_delta_log" / "00000000000000000001.json")  # as a log cleanup would
    meta = project.materialize("orders_cdf")
    assert (
        "versions after 0 are no longer readable" in meta["sync/cdf_decision"]
        and meta["sync/write_mode"] == "replace"
    )
    assert_same_rows(source_table(src), project.target_table("orders_cdf"), "id")


@pytest.mark.parametrize("target_kind", ["parquet"])
def test_cdf_not_enabled_reloads_in_full_and_says_so(tmp_path, target_conn):
    project, src = cdf_project(tmp_path, target_conn, cdf=False)
    project.materialize("orders_cdf")
    change_source(src)
    meta = project.materialize("orders_cdf")
    assert "change data feed is not enabled" in meta["sync/cdf_decision"]
    assert_same_rows(source_table(src), project.target_table("orders_cdf"), "id")


@pytest.mark.parametrize("target_kind", ["delta", "postgres", "parquet", "snowflake", "onelake"])
@pytest.mark.parametrize("point", ["mid_stream", "committed"])
def test_cdf_survives_kill(tmp_path, target_conn, point):
    from sync_assets_tests.test_crash import killed_sync

    project, src = cdf_project(tmp_path, target_conn)
    project.materialize("orders_cdf")
    before = project.target_table("orders_cdf")
    change_source(src)
    killed_sync(project, "orders_cdf", point)
    current = project.target_table("orders_cdf")
    try:
        assert_same_rows(before, current, "id")
    except AssertionError:
        assert_same_rows(source_table(src), current, "id")
    project.materialize("orders_cdf")
    assert_same_rows(source_table(src), project.target_table("orders_cdf"), "id")
