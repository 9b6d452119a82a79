"""The real Dagster daemon on a shared instance (issue: syncs that run themselves).

The instance keeps its runs, events and schedules in PostgreSQL (dagster-postgres, on the
test server) with the queued run coordinator and one slot per pool, as the README's
production dagster.yaml. `dagster-daemon run` ticks a schedule and a change sensor that the
configs turn on (`enabled: true`); the test changes the source and sees exactly the expected
runs: one per source change for the sensor (none while nothing changed), one per cron tick
for the schedule, each target equal to its source. Then two code-location processes write
the same target at once, and the pool keeps them to one writer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.dagster_run import RunsFilter

from sync_assets_tests.data import insert_items, items_project, source_rows
from sync_assets_tests.harness import assert_same_rows, stop_dagster, wait_for_file

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WATCHED, SCHEDULED = "watched", "scheduled"


def _home(tmp_path: Path, pg_server) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    url = pg_server.create_database(f"dagster_{tmp_path.name[-12:].lower()}").replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )
    config = {
        "storage": {"postgres": {"postgres_url": url}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {"runs": {"max_concurrent_runs": 4}, "pools": {"default_limit": 1}},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (home / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "sync_assets.definitions",
                            "working_directory": str(PROJECT),
                        }
                    }
                ]
            }
        )
    )
    return home


def _project(tmp_path: Path):
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, src = items_project(
        tmp_path, target, object_id=WATCHED, sync_type="incremental", sync_column="updated_at",
        merge_keys=["id"], frequency="continuous", check_interval_s=5, enabled=True,
    )  # fmt: skip
    scheduled = {
        **project.objects[0],
        "object_id": SCHEDULED,
        "target": {"connection": "tgt", "schema": "sales", "object": "items_copy"},
        "sync_type": "full",
        "frequency": "* * * * *",
        "enabled": True,
    }
    for key in ("sync_column", "merge_keys", "check_interval_s"):
        scheduled.pop(key)
    project.write(project.connections, [project.objects[0], scheduled])
    return project, src


def _runs_of(instance, object_id: str) -> list:
    runs = instance.get_runs(
        RunsFilter(tags={"dagster/sensor_name": f"sync_{object_id}_on_change"})
    )
    if not runs:
        runs = instance.get_runs(
            RunsFilter(tags={"dagster/schedule_name": f"sync_{object_id}_schedule"})
        )
    return sorted(runs, key=lambda r: r.run_id)


def _wait(predicate, seconds: float, what: str, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-3000:]}"
        found = predicate()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what} within {seconds} s; daemon log:\n{log.read_text()[-3000:]}")


def _ticked_after(instance, when: float):
    """The scheduled object's runs once all are finished and one started after `when`."""
    records = instance.get_run_records(
        RunsFilter(tags={"dagster/schedule_name": f"sync_{SCHEDULED}_schedule"})
    )
    finished = all(r.dagster_run.is_finished for r in records)
    late = any(r.start_time and r.start_time > when for r in records)
    return [r.dagster_run for r in records] if records and finished and late else None


def _finished(instance, object_id: str, count: int):
    runs = _runs_of(instance, object_id)
    done = [r for r in runs if r.is_finished]
    return runs if len(done) >= count and len(done) == len(runs) else None


@pytest.fixture
def shared(tmp_path, pg_server):
    project, src = _project(tmp_path)
    home = _home(tmp_path, pg_server)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SYNC_ASSETS_CONFIGS": str(project.configs),
    }
    return project, src, home, env


def test_the_daemon_runs_the_schedule_and_one_run_per_source_change(shared, tmp_path):
    project, src, home, env = shared
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # the first load, requested by the sensor as soon as it ticks
            [first] = _wait(lambda: _finished(instance, WATCHED, 1), 120, "a first sensor run",
                            daemon, log)  # fmt: skip
            assert first.status == dg.DagsterRunStatus.SUCCESS
            assert_same_rows(source_rows(src), project.target_table(WATCHED), "id")
            time.sleep(12)  # two more sensor ticks: nothing changed, no run
            assert len(_runs_of(instance, WATCHED)) == 1

            insert_items(src, 301, 25)
            changed_at = time.time()
            runs = _wait(lambda: _finished(instance, WATCHED, 2), 90, "a run for the change",
                         daemon, log)  # fmt: skip
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
            assert_same_rows(source_rows(src), project.target_table(WATCHED), "id")
            time.sleep(12)
            assert len(_runs_of(instance, WATCHED)) == 2  # one run per change

            # the every-minute schedule: a tick after the change copies it; one run per tick
            scheduled = _wait(lambda: _ticked_after(instance, changed_at), 130,
                              "a scheduled run after the change", daemon, log)  # fmt: skip
            assert {r.status for r in scheduled} == {dg.DagsterRunStatus.SUCCESS}
            ticks = instance.get_ticks(
                _origin_id(instance, f"sync_{SCHEDULED}_schedule"),
                _selector_id(instance, f"sync_{SCHEDULED}_schedule"),
            )
            launched = [t for t in ticks if t.run_ids]
            assert len(scheduled) == len({i for t in launched for i in t.run_ids})
            assert project.target_table(SCHEDULED).num_rows == 325
    finally:
        stop_dagster(daemon)
    assert daemon.returncode is not None


def _state(instance, name: str):
    states = [s for s in instance.all_instigator_state() if s.name == name]
    assert states, f"the daemon never recorded {name}"
    return states[0]


def _origin_id(instance, name: str) -> str:
    return _state(instance, name).instigator_origin_id


def _selector_id(instance, name: str) -> str:
    return _state(instance, name).selector_id


def test_two_code_location_processes_writing_one_target_take_turns(shared, tmp_path):
    """Two `dagster asset materialize` processes (each loads the code location) on the
    PostgreSQL instance: the second waits for the pool slot the first holds."""
    project, src, home, env = shared
    mark = tmp_path / "first_holds"
    select = ["-m", "sync_assets.definitions", "--select", "tgt/sales/items_copy"]
    command = [str(BIN / "dagster"), "asset", "materialize", *select]
    first = subprocess.Popen(
        command, env={**env, "SYNC_ASSETS_PAUSE_AT": "planned:6", "SYNC_ASSETS_PAUSE_MARK": str(mark)},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_for_file(mark, 120)
    second = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "blocked by limit for pool" in second.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        windows = sorted(_step_window(instance, r.run_id) for r in instance.get_runs())
    assert len(windows) == 2 and windows[0][1] <= windows[1][0]  # one writer at a time
    assert project.target_table(SCHEDULED).num_rows == 300


def _step_window(instance, run_id: str) -> tuple[float, float]:
    """When the run's sync step started and ended."""
    events = instance.all_logs(run_id)
    start = min(
        e.timestamp
        for e in events
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
    )
    end = max(
        e.timestamp
        for e in events
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
    )
    return start, end
