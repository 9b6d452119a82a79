"""A run killed with kill -9 does not block its asset (issue: syncs that run themselves).

`dagster asset materialize` on an instance whose pools have one slot (the project's
dagster.yaml): the first run is held inside its step (it holds the pool slot) and killed with
kill -9; Dagster leaves it STARTED with the slot claimed. Before the fix the next run of the
asset waited forever ("Step blocked by limit for pool ..."); now it marks the dead run failed,
frees its slot and completes, and the target equals the source.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from sync_assets_tests.data import items_project, source_rows
from sync_assets_tests.harness import assert_same_rows, wait_for_file

PROJECT = Path(__file__).resolve().parents[1]
KEY = "tgt/sales/items"


def _materialize() -> list[str]:
    dagster = str(Path(sys.executable).parent / "dagster")
    return [dagster, "asset", "materialize", "-m", "sync_assets.definitions", "--select", KEY]


def _setup(tmp_path):
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, src = items_project(tmp_path, target, sync_type="full")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_ASSETS_CONFIGS": str(project.configs)}
    return project, src, home, env


def _hold(env: dict, tmp_path: Path) -> subprocess.Popen:
    """A run that stops inside its step, holding the pool slot, until it is killed."""
    mark = tmp_path / "holding"
    held = subprocess.Popen(
        _materialize(),
        env={**env, "SYNC_ASSETS_PAUSE_AT": "planned:300", "SYNC_ASSETS_PAUSE_MARK": str(mark)},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_file(mark, 120)
    return held


def _kill(held: subprocess.Popen) -> None:
    os.killpg(held.pid, signal.SIGKILL)
    held.wait()


def test_the_next_run_after_a_killed_one_completes(tmp_path):
    project, src, home, env = _setup(tmp_path)
    _kill(_hold(env, tmp_path))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        [killed] = instance.get_runs()
        assert killed.status == dg.DagsterRunStatus.STARTED  # Dagster never hears of the kill
        assert instance.event_log_storage.get_concurrency_run_ids() == {killed.run_id}

    done = subprocess.run(
        _materialize(), env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is gone (killed?)" in done.stderr

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {r.run_id: r for r in instance.get_runs()}
        assert runs[killed.run_id].status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_run_ids()
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def test_a_run_waiting_for_the_slot_gets_it_when_the_holder_is_killed(tmp_path):
    """The waiting run's executor looks for dead holders every few seconds while it waits."""
    project, src, home, env = _setup(tmp_path)
    held = _hold(env, tmp_path)
    waiting = subprocess.Popen(
        _materialize(), env={**env, "SYNC_ASSETS_REAP_INTERVAL_S": "2"}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    with pytest.raises(subprocess.TimeoutExpired):  # blocked by the pool while the holder lives
        waiting.wait(8)
    _kill(held)
    out, _ = waiting.communicate(timeout=90)
    assert waiting.returncode == 0, out[-3000:]
    assert "is gone (killed?)" in out
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
