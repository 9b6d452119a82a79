"""Long syncs show progress (issue: performance round two): while a write runs, the run log
gets a line every SYNC_ASSETS_PROGRESS_S seconds with the rows read, their rate and the
phase; a short sync logs none."""

from __future__ import annotations

import re

import pytest

from sync_assets_tests.conftest import target_connection
from sync_assets_tests.data import items_project

LINE = re.compile(
    r"^object_id 'items_sync': (reading|applying|committing); ([\d,]+) rows read \(([\d,]+) rows/s\), \d+ s$"
)


def _progress_lines(project) -> list[str]:
    [run] = project.instance.get_runs(limit=1)
    return [
        e.user_message
        for e in project.instance.all_logs(run.run_id)
        if e.user_message and "rows read (" in e.user_message
    ]


@pytest.mark.parametrize("kind", ["duckdb", "parquet", "postgres"])
def test_a_long_write_logs_its_phase_and_rows(tmp_path, monkeypatch, pg_server, kind):
    conn = target_connection(kind, tmp_path, pg_server)
    project, _ = items_project(tmp_path, conn, rows=5000, sync_type="merge", merge_keys=["id"])
    monkeypatch.setenv("SYNC_ASSETS_PROGRESS_S", "0.2")
    # hold the write where its stream is staged (parquet: its files are written), so the
    # timer fires in the next phase
    point = "files_written" if kind == "parquet" else "staged"
    monkeypatch.setenv("SYNC_ASSETS_PAUSE_AT", f"{point}:1")
    project.materialize("items_sync")
    lines = _progress_lines(project)
    assert lines, "no progress line"
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    phases = [m.group(1) for m in parsed]
    assert phases[-1] == ("committing" if kind == "parquet" else "applying")
    assert int(parsed[-1].group(2).replace(",", "")) == 5000  # every row was read by then


def test_a_short_sync_logs_no_progress(tmp_path, monkeypatch):
    project, _ = items_project(tmp_path, target_connection("duckdb", tmp_path), sync_type="full")
    monkeypatch.setenv("SYNC_ASSETS_PROGRESS_S", "30")
    project.materialize("items_sync")
    assert _progress_lines(project) == []
