"""Operations (issue: configs from the seeds): a full refresh by run config or CLI flag,
`sync-assets reset` of an object or one partition (the next run is a full refresh, nothing
appended twice), and `sync-assets status`; each recorded in metadata, on every target."""

from __future__ import annotations

import dagster as dg
import pytest

from sync_assets.cli import main
from sync_assets.config.loader import load_project
from sync_assets.operations import OperationError, reset
from sync_assets_tests.data import delete_items, insert_items, items_project, source_rows
from sync_assets_tests.harness import assert_same_rows
from sync_assets_tests.test_partitions import DAYS, partitioned_project

CARRIED = ["id", "name", "amount", "flag", "day", "day_str", "ts", "updated_at", "payload"]


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    """A real instance folder for the CLI's runless events (reset) and status."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _appending(tmp_path, target_conn):
    """An incremental object without merge keys: reruns from no state would append twice."""
    return items_project(tmp_path, target_conn, sync_type="incremental", sync_column="updated_at")


def test_full_refresh_replaces_what_an_append_cannot_repair(tmp_path, target_conn, target_kind):
    project, src = _appending(tmp_path, target_conn)
    assert project.materialize("items_sync")["sync/rows_inserted"] == 300
    delete_items(src, "id <= 10")  # a watermark never sees deletes
    insert_items(src, 301, 2)
    refreshed = project.materialize("items_sync", run_config={"full_refresh": True})
    assert refreshed["sync/full_refresh"] is True and refreshed["sync/write_mode"] == "replace"
    assert refreshed["sync/full_refresh_reason"] == "run config full_refresh"
    assert_same_rows(source_rows(src), project.target_table("items_sync").select(CARRIED), "id")
    # the refresh stored the watermark: the next incremental run has nothing to read
    assert (
        project.materialize("items_sync")["sync/skipped"] == "no rows beyond the stored watermark"
    )


def test_reset_makes_the_next_run_a_full_refresh(
    tmp_path, target_conn, target_kind, dagster_home, monkeypatch, capsys
):
    project, src = _appending(tmp_path, target_conn)
    project.materialize("items_sync")
    delete_items(src, "id <= 3")
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(project.configs))  # main sets it
    assert main(["--configs", str(project.configs), "reset", "items_sync"]) == 0
    assert (
        "items_sync: reset table (1 watermarks, 0 fingerprints cleared)" in capsys.readouterr().out
    )
    assert project.target_table("items_sync").num_rows == 300  # the data is untouched

    meta = project.materialize("items_sync")
    assert meta["sync/full_refresh_reason"] == "the state was reset (sync-assets reset)"
    assert_same_rows(source_rows(src), project.target_table("items_sync").select(CARRIED), "id")
    assert project.materialize("items_sync")["sync/skipped"]  # the reset is used up

    # recorded as an observation of the asset
    instance = dg.DagsterInstance.get()
    obs = instance.fetch_observations(next(iter(project.definitions().assets)).key, limit=1)
    assert obs.records[0].asset_observation.metadata["sync/reset"].value == "table"


def test_reset_one_partition_refreshes_that_partition_only(
    tmp_path, target_conn, dagster_home, monkeypatch
):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="incremental", sync_column="updated_at"
    )
    project.materialize("items_daily", partition_range=DAYS)
    delete_items(src, "id IN (3, 13)")  # on 2025-03-04
    done = reset(load_project(project.configs), str(tmp_path), "items_daily", "2025-03-04")
    assert done["sync/reset"] == "2025-03-04" and done["sync/reset_watermarks"] == 1
    other = project.materialize("items_daily", partition="2025-03-05")
    assert "sync/full_refresh" not in other and other["sync/skipped"]
    meta = project.materialize("items_daily", partition="2025-03-04")
    assert meta["sync/full_refresh"] and meta["dagster/partition_row_count"] == 28
    assert_same_rows(source_rows(src), project.target_table("items_daily").select(CARRIED), "id")


def test_reset_mistakes_are_named(tmp_path, dagster_home):
    project, _ = _appending(tmp_path, {"type": "duckdb", "path": "t.duckdb"})
    loaded = load_project(project.configs)
    with pytest.raises(OperationError, match="unknown object_id 'nope' \\(known: items_sync\\)"):
        reset(loaded, str(tmp_path), "nope")
    with pytest.raises(OperationError, match="does not exist yet; its first run is a full load"):
        reset(loaded, str(tmp_path), "items_sync")
    with pytest.raises(OperationError, match="is not partitioned: drop --partition"):
        reset(loaded, str(tmp_path), "items_sync", "2025-03-01")


def test_full_refresh_of_a_history_table_is_refused(tmp_path):
    project, _ = items_project(
        tmp_path, {"type": "duckdb", "path": "t.duckdb"}, sync_type="merge", merge_keys=["id"],
        scd_type=2,
    )  # fmt: skip
    project.materialize("items_sync")
    with pytest.raises(Exception, match="full_refresh: an scd_type 2 target holds the history"):
        project.materialize("items_sync", run_config={"full_refresh": True})


def test_status_shows_last_sync_watermark_rows_and_next_tick(
    tmp_path, dagster_home, monkeypatch, capsys
):
    project, _ = items_project(
        tmp_path,
        {"type": "duckdb", "path": "t.duckdb"},
        sync_type="incremental",
        sync_column="updated_at",
        frequency="hourly",
    )
    project.instance = dg.DagsterInstance.get()  # the CLI's instance sees the run
    project.materialize("items_sync")
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(project.configs))
    assert main(["--configs", str(project.configs), "status"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("items_sync"))
    assert "incremental" in line and "2025-03-01T00:05:00" in line and " 300 " in line
    assert ":00+00:00 (sync_items_sync_schedule, stopped)" in line
