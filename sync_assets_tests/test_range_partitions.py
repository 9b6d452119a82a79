"""Integer-range partitions (seed 002's partition_step): static partitions "<lo>-<hi>" of
`step` ids, each replaced (or merged) exactly as a time window is, on every target; a
frequency syncs every range in one run. (Issue: configs from the seeds.)"""

from __future__ import annotations

import pytest

from sync_assets.config.loader import ConfigError, load_project
from sync_assets.partitions import key_window, partitions_def
from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import assert_same_rows

RANGE = {"column": "id", "step": 100, "end": 400}
ALL = ("0-99", "300-399")


def _ranged(tmp_path, target_conn, **obj):
    spec = {"object_id": "items_ranged", "sync_type": "full", "partition": RANGE, **obj}
    return items_project(tmp_path, target_conn, **spec)


def test_keys_and_windows():
    project_spec = load_project_spec(RANGE)
    assert partitions_def(project_spec).get_partition_keys() == [
        "0-99", "100-199", "200-299", "300-399",
    ]  # fmt: skip
    assert key_window(project_spec, "100-199") == (100, 200)


def load_project_spec(partition):
    from sync_assets.config.models import PartitionSpec

    return PartitionSpec.model_validate(partition)


def test_one_range_is_replaced_exactly(tmp_path, target_conn, target_kind):
    project, src = _ranged(tmp_path, target_conn)
    meta = project.materialize("items_ranged", partition_range=ALL)
    assert meta["sync/range_row_count"] == 300
    update_items(src, "id BETWEEN 150 AND 160")
    delete_items(src, "id IN (120, 121)")
    insert_items(src, 199, 0)
    meta = project.materialize("items_ranged", partition="100-199")
    assert meta["dagster/partition_row_count"] == 98
    assert (meta["sync/rows_inserted"], meta["sync/rows_deleted"]) == (98, 100)
    assert_same_rows(source_rows(src), project.target_table("items_ranged"), "id")


def test_merge_with_a_watermark_per_range(tmp_path, target_conn, target_kind):
    project, src = _ranged(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], sync_column="updated_at"
    )
    project.materialize("items_ranged", partition_range=ALL)
    update_items(src, "id IN (5, 205)")
    first = project.materialize("items_ranged", partition="0-99")
    assert (first["sync/rows_inserted"], first["sync/rows_updated"]) == (0, 1)
    second = project.materialize("items_ranged", partition="200-299")
    assert second["sync/rows_updated"] == 1
    assert project.materialize("items_ranged", partition="0-99")["sync/skipped"]
    assert_same_rows(source_rows(src), project.target_table("items_ranged"), "id")


def test_a_frequency_syncs_every_range_in_one_run(tmp_path):
    project, _ = _ranged(tmp_path, {"type": "duckdb", "path": "t.duckdb"}, frequency="hourly")
    import dagster as dg

    defs = project.definitions()
    (schedule,) = defs.schedules
    assert schedule.cron_schedule == "0 * * * *"
    with dg.build_schedule_context(repository_def=defs.get_repository_def()) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "0-99"
    assert request.tags["dagster/asset_partition_range_end"] == "300-399"


@pytest.mark.parametrize(
    "partition, message",
    [
        (
            {"column": "id", "step": 100},
            "field 'partition.end': integer ranges need an integer end",
        ),
        (
            {"column": "id", "step": 1, "end": 20_000},
            "field 'partition.step': 20000 partitions of 1 from 0 to 20000; at most 10000",
        ),
        (
            {"column": "id", "step": 10, "granularity": "daily", "end": 100},
            "field 'partition.step': integer ranges \\(step\\) take no granularity",
        ),
        (
            {"column": "id", "start": "2025-01-01"},
            "field 'partition.granularity': give granularity",
        ),
    ],
)
def test_range_mistakes_name_the_field(tmp_path, partition, message):
    project, _ = _ranged(tmp_path, {"type": "duckdb", "path": "t.duckdb"}, partition=partition)
    with pytest.raises(ConfigError, match=message):
        load_project(project.configs)


def test_a_non_integer_column_fails_with_its_type(tmp_path):
    project, _ = _ranged(
        tmp_path, {"type": "duckdb", "path": "t.duckdb"}, partition=dict(RANGE, column="name")
    )
    with pytest.raises(
        Exception, match="integer-range partitions \\(step\\) need an integer column"
    ):
        project.materialize("items_ranged", partition="0-99")


def test_rows_beyond_the_last_range_fail_the_run_that_includes_it(tmp_path):
    project, src = _ranged(tmp_path, {"type": "duckdb", "path": str(tmp_path / "t.duckdb")})
    insert_items(src, 450, 2)
    project.materialize("items_ranged", partition="0-99")  # the last range is not in this run
    with pytest.raises(Exception, match=r"2 source rows have id >= 400, beyond the last range"):
        project.materialize("items_ranged", partition_range=ALL)
