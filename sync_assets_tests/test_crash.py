"""kill -9 at any moment of a sync leaves the target before or after it, and a rerun ends
with the target equal to the source: no row lost, none duplicated.

A real sync runs in a subprocess that SIGKILLs itself at a named crash point (see
sync_assets/faults.py): while the target consumes the stream, after staging, before the
commit, after Parquet files are in place but before the manifest, after the commit but
before Dagster records it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from sync_assets.faults import CRASH_ENV
from sync_assets_tests.data import (
    delete_items,
    deletion_marks,
    expected_marks,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows

POINTS = {
    "delta": ["mid_stream", "committed"],
    "parquet": ["mid_stream", "files_written", "committed"],
    "duckdb": ["mid_stream", "staged", "before_commit", "committed"],
    "postgres": ["mid_stream", "staged", "before_commit", "committed"],
    "odbc": ["mid_stream", "staged", "before_commit", "committed"],
    "onelake": ["mid_stream", "committed"],
    # not before_commit: fakesnow's server runs every client on one DuckDB connection, so a
    # client killed inside its transaction leaves that transaction open for all the others
    "snowflake": ["mid_stream", "staged", "committed"],
}
CASES = [(kind, point) for kind, points in POINTS.items() for point in points]


def killed_sync(project: Project, object_id: str, point: str, partition: str | None = None) -> None:
    env = dict(os.environ, **{CRASH_ENV: point})
    cmd = [sys.executable, "-m", "sync_assets_tests.crash_runner", str(project.root), object_id]
    if partition:
        cmd.append(partition)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def project_for(tmp_path, target_conn, **obj):
    # several batches, so mid_stream is truly mid-write
    return items_project(tmp_path, target_conn, rows=3000, **{"batch_size": 500, **obj})


def assert_before_or_after(project, before, after):
    current = project.target_table("items_sync")
    try:
        assert_same_rows(before, current, "id")
    except AssertionError:
        assert_same_rows(after, current, "id")


@pytest.mark.parametrize("target_kind, point", CASES)
def test_incremental_append_survives_kill(tmp_path, target_conn, target_kind, point):
    project, src = project_for(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    project.materialize("items_sync")
    before = project.target_table("items_sync")
    insert_items(src, 10_000, 2000)
    killed_sync(project, "items_sync", point)
    assert_before_or_after(project, before, source_rows(src))
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize(
    "target_kind, point",
    [c for c in CASES if c[1] in ("mid_stream", "before_commit", "files_written")],
)
@pytest.mark.parametrize("sync_type", ["merge", "hash"])
def test_merge_survives_kill(tmp_path, target_conn, target_kind, point, sync_type):
    """A whole-source merge or a hash sync: before or after, then exact (and a hash rerun
    finds every hash matching)."""
    project, src = project_for(tmp_path, target_conn, sync_type=sync_type, merge_keys=["id"])
    project.materialize("items_sync")
    before = project.target_table("items_sync")
    insert_items(src, 10_000, 1500)
    update_items(src, "id % 7 = 0")
    delete_items(src, "id % 11 = 0")
    killed_sync(project, "items_sync", point)
    assert_before_or_after(project, before, source_rows(src))
    project.materialize("items_sync")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    if sync_type == "hash":
        assert project.materialize("items_sync")["sync/skipped"]


@pytest.mark.parametrize("target_kind", list(POINTS))
def test_partition_replace_survives_kill(tmp_path, target_conn, target_kind):
    project, src = project_for(
        tmp_path,
        target_conn,
        sync_type="full",
        batch_size=100,
        partition={
            "column": "day",
            "granularity": "daily",
            "start": "2025-03-01",
            "end": "2025-03-11",
        },
    )
    for day in range(1, 11):
        project.materialize("items_sync", partition=f"2025-03-{day:02d}")
    update_items(src, "day = DATE '2025-03-04'")
    killed_sync(project, "items_sync", "mid_stream", partition="2025-03-04")
    project.materialize("items_sync", partition="2025-03-04")
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize(
    "target_kind, point",
    [c for c in CASES if c[1] in ("mid_stream", "before_commit", "files_written")],
)
def test_soft_delete_merge_survives_kill(tmp_path, target_conn, target_kind, point):
    project, src = project_for(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], soft_delete=True
    )
    project.materialize("items_sync")
    before = deletion_marks(project)
    insert_items(src, 10_000, 1500)
    delete_items(src, "id % 11 = 0")
    after = expected_marks(before, src)
    killed_sync(project, "items_sync", point)
    assert deletion_marks(project) in (before, after)
    project.materialize("items_sync")
    assert deletion_marks(project) == after


@pytest.mark.parametrize(
    "target_kind, point",
    [c for c in CASES if c[1] in ("mid_stream", "before_commit", "files_written")],
)
def test_scd2_merge_survives_kill(tmp_path, target_conn, target_kind, point):
    """History after a kill and a rerun is exact: one closed and one current version per
    changed key, a closed version per deleted key, no version twice."""
    project, src = project_for(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], scd_type=2
    )
    project.materialize("items_sync")
    update_items(src, "id % 7 = 0")
    delete_items(src, "id % 11 = 0")
    killed_sync(project, "items_sync", point)
    project.materialize("items_sync")
    project.materialize("items_sync")  # a rerun adds nothing
    rows = project.target_table("items_sync").select(["id", "is_current"]).to_pylist()
    versions: dict = {}
    for r in rows:
        versions.setdefault(r["id"], []).append(bool(r["is_current"]))
    for key, flags in versions.items():
        changed, deleted = key % 7 == 0, key % 11 == 0
        expected = [False] if deleted else [False, True] if changed else [True]
        assert sorted(flags) == expected, (key, flags)
    assert len(versions) == 3000
