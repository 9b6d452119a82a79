"""kill -9 at random moments of every sync type on every target (issue: trust).

Each round changes the source (inserts, updates and, where the sync type carries them,
deletes), runs the sync in a forked child that SIGKILLs itself at a random moment of a phase
picked at random (a random share of that phase's length in the first run, counted from the
crash point that opens it), checks the target is as before or as after the
change (a history table: checked after the rerun), reruns to completion and checks the target
equals the source exactly. The child's trace of crash points names the phase it reached
(planning, streaming, staging, applying, committing, recording, maintenance).

The default suite runs one round of each sync type on each target (seeded by the case, so a
failure reruns the same way); `pytest -m kills` runs rounds until SYNC_ASSETS_KILL_BUDGET_S
(default 60 s) per case. SYNC_ASSETS_KILL_SEED changes the seeds; SYNC_ASSETS_KILL_REPORT
names a file each kill is appended to as a JSON line (case, seed, kill moment, phase, outcome).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync_assets.faults import KILL_AFTER_ENV, TRACE_ENV
from sync_assets_tests.conftest import abort_dead_session
from sync_assets_tests.data import (
    delete_items,
    deletion_marks,
    expected_marks,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import assert_same_rows

KINDS = ["delta", "parquet", "duckdb", "postgres", "odbc", "onelake", "snowflake"]
SYNC_TYPES = {
    "full": {"sync_type": "full"},
    "incremental": {"sync_type": "incremental", "sync_column": "updated_at", "merge_keys": ["id"]},
    "append_only": {"sync_type": "append_only", "sync_column": "id"},
    "merge": {"sync_type": "merge", "merge_keys": ["id"]},
    "hash": {"sync_type": "hash", "merge_keys": ["id"]},
    "soft_delete": {"sync_type": "merge", "merge_keys": ["id"], "soft_delete": True},
    "scd2": {"sync_type": "merge", "merge_keys": ["id"], "scd_type": 2},
    "partition": {
        "sync_type": "full",
        "partition": {
            "column": "day",
            "granularity": "daily",
            "start": "2025-03-01",
            "end": "2025-03-11",
        },
    },
}
# the sync types that carry updates and deletes of existing rows
UPDATES = {"full", "incremental", "merge", "hash", "soft_delete", "scd2", "partition"}
DELETES = {"full", "merge", "hash", "soft_delete", "scd2", "partition"}
# what the last crash point a killed child reached says about where it died
PHASES = {
    None: "planning (lock, state, source probe)",
    "planned": "streaming (reading the source)",
    "mid_stream": "staging (the target took the first batch)",
    "files_written": "publishing (Parquet files written, manifest not yet)",
    "staged": "applying (staged; merge / replace running)",
    "before_commit": "committing (state written, commit not yet)",
    "committed": "recording (committed; Dagster not yet told)",
    "maintenance": "maintenance (Delta optimize after the commit)",
}
ROWS, BATCH = 3000, 500


class KillServer:
    """The preloaded forking process of kill_server.py, one per test worker."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync_assets_tests.kill_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, project, kill: tuple | None, log: Path, trace: Path, partition=None) -> dict:
        """One materialization; `kill` = (crash point or None for the start, seconds)."""
        env = {TRACE_ENV: str(trace)}
        point, delay = kill or (None, None)
        if point is not None:
            env[KILL_AFTER_ENV], delay = f"{point}:{delay}", None
        request = {
            "root": str(project.root),
            "object_id": "items_sync",
            "partition": partition,
            "delay": delay,
            "env": env,
            "log": str(log),
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the kill server died"
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def kill_server():
    server = KillServer()
    yield server
    server.close()


@dataclass
class Case:
    """One sync type on one target: the project, its source, and what the target must hold."""

    name: str
    project: object
    src: Path
    tmp: Path
    server: KillServer
    kind: str
    phases: list = field(default_factory=list)  # (last point, from s, to s) of a full run
    kills: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)  # scd2: key -> expected version count

    @property
    def partition(self) -> str | None:
        return "2025-03-04" if self.name == "partition" else None

    def complete(self, step: str) -> None:
        """A run to the end; the moments it reached each crash point lay out the phases the
        next kill is placed in."""
        log, trace = self.tmp / f"{step}.log", self.tmp / f"{step}.trace"
        answer = self.server.run(self.project, None, log, trace, self.partition)
        assert answer["exit"] == 0, f"{step} failed:\n{log.read_text()[-4000:]}"
        if not self.phases:  # the first (base) run's phases: later reruns may do nothing
            self.phases = _phases(answer, trace)

    def killed(self, rng: random.Random, seed: int, step: str) -> dict:
        """A run killed at a random moment of a phase picked at random (each phase equally
        likely, however short): a random share of that phase's length in the first run,
        counted from the crash point that opens it."""
        point, lo, hi = rng.choice(self.phases)
        delay = rng.uniform(0.0, hi - lo)
        log, trace = self.tmp / f"{step}.log", self.tmp / f"{step}.trace"
        answer = self.server.run(self.project, (point, delay), log, trace, self.partition)
        reached = _points(trace)
        last = reached[-1][0] if reached else None
        if answer["killed"]:
            outcome = "killed"
        else:
            assert answer["exit"] == 0, f"{step} failed:\n{log.read_text()[-4000:]}"
            outcome, last = "completed before the kill", "completed"
            if any(name == "committed" for name, _ in reached):
                # it wrote, faster than the base run (a warm process): place the next kills
                # in this run's phases, or a short case would never be hit
                self.phases = _phases(answer, trace)
        kill = {
            "case": f"{self.name}-{self.kind}",
            "seed": seed,
            "after": f"{point or 'start'} + {delay:.3f} s",
            "phase": PHASES.get(last, last),
            "outcome": outcome,
        }
        self.kills.append(kill)
        _report(kill)
        if self.kind == "snowflake" and answer["killed"]:
            abort_dead_session()
        return kill


def _phases(answer: dict, trace: Path) -> list[tuple[str | None, float, float]]:
    """(crash point opening it, from s, to s) of each phase of a complete run."""
    marks = [(None, 0.0)] + [(n, t - answer["started"]) for n, t in _points(trace)]
    ends = [t for _, t in marks[1:]] + [answer["seconds"]]
    return [(name, lo, max(lo, hi)) for (name, lo), hi in zip(marks, ends, strict=True)]


def _points(trace: Path) -> list[tuple[str, float]]:
    """(crash point, epoch seconds) in the order a child reached them."""
    if not trace.exists():
        return []
    return [(n, float(t)) for n, t in (line.split() for line in trace.read_text().splitlines())]


def _report(kill: dict) -> None:
    path = os.environ.get("SYNC_ASSETS_KILL_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(kill) + "\n")


def _change(case: Case, round_no: int, rng: random.Random) -> None:
    """Round `round_no`'s change to the source, each later than the last (watermarks)."""
    src, day = case.src, "2025-03-04"
    stamp = f"2025-06-{round_no + 1:02d}"
    if case.name == "partition":  # only the killed partition changes
        update_items(src, f"day = DATE '{day}' AND id % 3 = {rng.randrange(3)}", stamp)
        delete_items(src, f"day = DATE '{day}' AND id % {rng.randrange(13, 29)} = 0")
        return
    first = 10_000 + 1000 * round_no
    insert_items(src, first, rng.randrange(200, 900), stamp=f"{stamp} 00:00:00")
    if case.name in UPDATES:
        update_items(src, f"id < {first} AND id % {rng.randrange(5, 12)} = 0", f"{stamp} 12:00:00")
    if case.name in DELETES:
        delete_items(src, f"id < {first} AND id % {rng.randrange(13, 29)} = 0")


def _history(project) -> dict:
    """key -> (versions, current versions) of an SCD2 table."""
    rows = project.target_table("items_sync").select(["id", "is_current"]).to_pylist()
    history: dict = {}
    for r in rows:
        count, current = history.get(r["id"], (0, 0))
        history[r["id"]] = (count + 1, current + bool(r["is_current"]))
    return history


def _expected_history(previous: dict, before_rows: dict, src: Path) -> dict:
    """Each key's version count after this round: +1 when its row changed, a closed version
    when deleted, one current version when live."""
    now = {r["id"]: r for r in source_rows(src).to_pylist()}
    expected = {}
    for key, (count, _) in previous.items():
        if key in now:
            changed = now[key] != before_rows.get(key)
            expected[key] = (count + changed, 1)
        else:
            expected[key] = (count, 0)
    for key in now.keys() - previous.keys():
        expected[key] = (1, 1)
    return expected


def _one_round(case: Case, round_no: int, seed: int) -> None:
    rng = random.Random(seed)
    project, src = case.project, case.src
    before_rows = {r["id"]: r for r in source_rows(src).to_pylist()}
    before = (
        deletion_marks(project)
        if case.name == "soft_delete"
        else _history(project)
        if case.name == "scd2"
        else project.target_table("items_sync")
    )
    _change(case, round_no, rng)
    case.killed(rng, seed, f"r{round_no}-killed")
    if case.name == "soft_delete":
        after = expected_marks(before, src)
        assert deletion_marks(project) in (before, after)
    elif case.name == "scd2":
        after = _expected_history(before, before_rows, src)
    else:
        current = project.target_table("items_sync")
        try:
            assert_same_rows(before, current, "id")
        except AssertionError:
            assert_same_rows(source_rows(src), current, "id")
    case.complete(f"r{round_no}-rerun")
    if case.name == "soft_delete":
        assert deletion_marks(project) == after
    elif case.name == "scd2":
        assert _history(project) == after
    else:
        assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


def _case(name, kind, tmp_path, target_conn, server) -> Case:
    conn = dict(target_conn)
    if kind in ("delta", "onelake"):  # so that kills also land in maintenance
        conn["maintenance"] = {"optimize": True}
    project, src = items_project(tmp_path, conn, rows=ROWS, batch_size=BATCH, **SYNC_TYPES[name])
    case = Case(name, project, src, tmp_path, server, kind)
    if name == "partition":  # every day first; the base run below is the day that is killed
        for day in range(1, 11):
            project.materialize("items_sync", partition=f"2025-03-{day:02d}")
    case.complete("r0-base")
    return case


def _seed(name: str, kind: str, round_no: int) -> int:
    base = int(os.environ.get("SYNC_ASSETS_KILL_SEED", "0"))
    return zlib.crc32(f"{name}-{kind}-{round_no}-{base}".encode())


# the default suite: each sync type on two targets, each target under two or more types
SHORT = [
    (name, KINDS[(i + shift) % len(KINDS)]) for i, name in enumerate(SYNC_TYPES) for shift in (0, 3)
]


@pytest.mark.parametrize("sync_name, target_kind", SHORT)
def test_random_kill(tmp_path, target_conn, target_kind, sync_name, kill_server):
    case = _case(sync_name, target_kind, tmp_path, target_conn, kill_server)
    _one_round(case, 1, _seed(sync_name, target_kind, 1))


@pytest.mark.kills
@pytest.mark.parametrize("target_kind", KINDS)
@pytest.mark.parametrize("sync_name", list(SYNC_TYPES))
def test_random_kills_long(tmp_path, target_conn, target_kind, sync_name, kill_server):
    budget = float(os.environ.get("SYNC_ASSETS_KILL_BUDGET_S", "60"))
    case = _case(sync_name, target_kind, tmp_path, target_conn, kill_server)
    deadline, round_no = time.monotonic() + budget, 1
    while time.monotonic() < deadline and round_no <= 25:
        _one_round(case, round_no, _seed(sync_name, target_kind, round_no))
        round_no += 1
    assert sum(k["outcome"] == "killed" for k in case.kills) >= 1, case.kills
