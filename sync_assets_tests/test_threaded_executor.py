"""Steps of one run at once (issue: performance round two, many tables per run): the real
`dagster asset materialize` on a persistent instance with SYNC_ASSETS_MAX_CONCURRENT=2.
Every object syncs, steps writing different tables overlap, steps writing one DuckDB file
never do (its pool has one slot), and a failing step fails the run without stopping the
others. Repeated a few times: the two deadlocks this executor avoids (log capture and
logging configuration from several threads) showed within the first runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from sync_assets_tests.harness import Project

ROOT = Path(__file__).resolve().parents[1]
TABLES = 8


def _project(tmp_path: Path) -> Project:
    source = tmp_path / "source.duckdb"
    with duckdb.connect(str(source)) as con:
        for i in range(TABLES):
            con.execute(
                f"CREATE TABLE t{i} AS SELECT range AS id, range * 2 AS v FROM range(20000)"
            )
    objects = [
        {
            "object_id": f"t{i}",
            "source": {"connection": "src", "schema": "main", "object": f"t{i}"},
            # even tables: a Delta table each (own pools); odd: one DuckDB file (one pool)
            "target": {
                "connection": "lake" if i % 2 == 0 else "duck",
                "schema": "b",
                "object": f"t{i}",
            },
            "sync_type": "full",
        }
        for i in range(TABLES)
    ]
    connections = {
        "src": {"type": "duckdb", "path": str(source)},
        "lake": {"type": "delta", "root": str(tmp_path / "lake")},
        "duck": {"type": "duckdb", "path": str(tmp_path / "target.duckdb")},
    }
    return Project(tmp_path, connections, objects)


def _materialize(project: Project, home: Path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        SYNC_ASSETS_CONFIGS=str(project.configs),
        DAGSTER_HOME=str(home),
        SYNC_ASSETS_MAX_CONCURRENT="2",
    )
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
               "sync_assets.definitions", "--select", "*"]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _windows(home: Path) -> tuple[dict, str]:
    """step key -> (start, end) of the latest run, and its status."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(limit=1)
        starts, ends = {}, {}
        for e in instance.all_logs(run.run_id):
            kind = e.dagster_event.event_type_value if e.dagster_event else None
            if kind == "STEP_START":
                starts[e.step_key] = e.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                ends[e.step_key] = e.timestamp
        return {k: (starts[k], ends[k]) for k in starts}, run.status.value


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_steps_run_two_at_a_time_and_pools_keep_one_writer(tmp_path):
    project = _project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for attempt in range(2):  # the initial load, then a rerun whose steps skip
        done = _materialize(project, home)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "steps at once, in threads" in done.stderr
        windows, status = _windows(home)
        assert status == "SUCCESS"
        syncs = {k: w for k, w in windows.items() if k.startswith("t")}
        assert sorted(syncs) == sorted(f"t{i}" for i in range(TABLES)), attempt
        duck = [syncs[f"t{i}"] for i in range(1, TABLES, 2)]
        assert not any(_overlap(a, b) for a in duck for b in duck if a is not b)
        pairs = [(a, b) for a in syncs.values() for b in syncs.values() if a is not b]
        assert any(_overlap(a, b) for a, b in pairs), "no two steps ran at once"
    for i in range(TABLES):
        assert project.target_table(f"t{i}").num_rows == 20000


def test_a_failing_step_fails_the_run_and_the_others_still_sync(tmp_path):
    project = _project(tmp_path)
    project.update_object("t3", filter_condition="no_such_column > 0")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    done = _materialize(project, home)
    assert done.returncode != 0
    windows, status = _windows(home)
    assert status == "FAILURE"
    assert sorted(k for k in windows if k.startswith("t")) == sorted(f"t{i}" for i in range(TABLES))
    for i in range(TABLES):
        if i != 3:
            assert project.target_table(f"t{i}").num_rows == 20000
