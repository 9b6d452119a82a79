"""Dry runs on every target: the metadata says what the run would insert, update and delete
(and which DDL it would run); the target and its stored state stay exactly as they were, and
the real run that follows does what the dry run said."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from sync_assets_tests.data import delete_items, insert_items, items_project, update_items
from sync_assets_tests.harness import write_marker


def _dry(project, object_id: str = "items_sync") -> dict:
    defs = project.definitions()
    asset = next(
        a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.name == object_id
    )
    result = dg.materialize(
        [asset],
        resources=dict(defs.resources),
        instance=project.instance,
        run_config={"ops": {object_id: {"config": {"dry_run": True}}}},
    )
    event = result.get_asset_materialization_events()[0]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _counts(meta: dict) -> tuple:
    return meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]


def test_dry_run_of_a_merge_writes_nothing(tmp_path, target_conn):
    project, src = items_project(tmp_path, target_conn, sync_type="merge", merge_keys=["id"])
    project.materialize("items_sync")
    insert_items(src, 1000, 4)
    update_items(src, "id IN (5, 6)")
    delete_items(src, "id = 9")
    before, marker, state = (
        project.target_table("items_sync"),
        write_marker(project, "items_sync"),
        project.target("items_sync").read_state(),
    )
    meta = _dry(project)
    assert meta["sync/dry_run"] is True and _counts(meta) == (4, 2, 1)
    assert write_marker(project, "items_sync") == marker
    assert project.target("items_sync").read_state() == state
    assert project.target_table("items_sync").sort_by("id").equals(before.sort_by("id"))
    assert _counts(project.materialize("items_sync")) == (4, 2, 1)  # as the dry run said


def test_dry_run_of_a_first_sync_creates_nothing(tmp_path, target_conn):
    project, _ = items_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    meta = _dry(project)
    assert meta["sync/dry_run"] is True and meta["sync/rows_inserted"] == 300 and "sync/ddl" in meta
    assert project.target("items_sync").count_rows() is None  # no table, no state
    assert project.materialize("items_sync")["sync/rows_inserted"] == 300


@pytest.mark.parametrize("target_kind", ["duckdb", "delta", "parquet"])
def test_dry_run_of_soft_deletes_and_replaces(tmp_path, target_conn):
    project, src = items_project(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], soft_delete=True
    )
    project.materialize("items_sync")
    delete_items(src, "id IN (1, 2, 3)")
    marker = write_marker(project, "items_sync")
    assert _counts(_dry(project)) == (0, 0, 3)
    assert write_marker(project, "items_sync") == marker
    assert _counts(project.materialize("items_sync")) == (0, 0, 3)


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_cli_dry_run(tmp_path, target_conn):
    project, _ = items_project(tmp_path, target_conn, sync_type="full")
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    cli = [
        sys.executable,
        "-m",
        "sync_assets.cli",
        "--configs",
        str(project.configs),
        "materialize",
        "--dry-run",
    ]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("tgt/sales/items"))
    assert line.split()[2:4] == ["300", "300"]  # read, would insert
    assert project.target("items_sync").count_rows() is None
