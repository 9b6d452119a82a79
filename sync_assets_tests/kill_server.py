"""A preloaded process that forks one materialization per request (the random kill tests).

Starting a fresh Python for every kill costs seconds of imports, most of a kill test's time.
This process imports Dagster, the connectors and sync_assets once, then for each request
(a JSON line on stdin) forks a child that materializes one object on its own ephemeral
instance, killed `delay` seconds after it starts or, with `env` SYNC_ASSETS_KILL_AFTER,
after it reaches a crash point (sync_assets/faults.py); the answer (a JSON line on
stdout) says how the child ended and how long it ran. The server itself runs no threads, so
forking it is safe; the children write their logs to the request's `log` file.

Request: {"root", "object_id", "partition", "delay" (seconds or null), "env", "log"}
Answer:  {"killed": bool, "exit": int | null, "started": epoch seconds, "seconds": float}
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import dagster as dg
import deltalake  # noqa: F401  (preloaded for the children)
import duckdb  # noqa: F401
import snowflake.connector  # noqa: F401

import sync_assets.definitions  # noqa: F401
from sync_assets.faults import kill_after
from sync_assets_tests.harness import Project


def _child(request: dict) -> None:
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        root = Path(request["root"])
        project = Project.__new__(Project)
        project.root, project.configs = root, root / "configs"
        project.instance = dg.DagsterInstance.ephemeral()
        if request["delay"] is not None:
            kill_after(request["delay"])
        project.materialize(request["object_id"], partition=request.get("partition"))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        started, clock = time.time(), time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        answer = {
            "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "started": started,
            "seconds": time.monotonic() - clock,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
