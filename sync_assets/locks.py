"""One writer per target table across processes and Dagster instances.

Dagster's pools keep one writer per target inside one instance; two instances (or a run
started by hand beside a scheduled one) cannot see each other's pools. So each run of an
object holds a lock of the target's own kind while it reads the stored state, plans, writes
and commits:
- PostgreSQL (also through ODBC): a session advisory lock on the target table's name;
- DuckDB files, local Parquet and Delta tables: an OS file lock (flock) beside the table;
- Delta on Azure storage (ADLS Gen2, OneLake): a blob lease (blob_lease.py), since delta-rs'
  optimistic commit lets two blind appends through; on S3 / GCS only that commit;
- SQL Server / Azure SQL: sp_getapplock owned by the session (released by the engine when a
  killed run's connection ends);
- Snowflake, Synapse and Fabric Warehouse (no application lock there): at commit, the run
  locks the object's row in the state table (a no-op UPDATE, which waits for a transaction
  holding it) and refuses to commit if the state moved since it read it ("another sync of
  <object> committed to <table> ..."). The later of two overlapping runs fails and changes
  nothing; it does not wait. Every SQL target runs this check, also behind its lock.
A lock held elsewhere is waited for up to `SYNC_ASSETS_LOCK_WAIT_S` seconds (default 60),
then the run fails with "another sync of <object> holds the lock".
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

WAIT_ENV = "SYNC_ASSETS_LOCK_WAIT_S"


class WriterBusy(RuntimeError):
    """Another sync of the same target holds its writer lock."""


def lock_wait_s() -> float:
    return float(os.environ.get(WAIT_ENV, "60"))


def busy(object_id: str, what: str, waited: float) -> WriterBusy:
    return WriterBusy(
        f"another sync of {object_id} holds the lock on {what} (waited {waited:g} s); it is "
        f"still running elsewhere: retry when it is done (or raise {WAIT_ENV})"
    )


def state_moved(object_id: str, table: str) -> WriterBusy:
    return WriterBusy(
        f"another sync of {object_id} committed to {table} after this run read its sync state "
        "(a run from another Dagster instance, or one started by hand); this run changed "
        "nothing: run it again"
    )


def wait_for(try_lock, object_id: str, what: str) -> None:
    """Call `try_lock()` until it returns True, up to the lock wait; WriterBusy after."""
    wait = lock_wait_s()
    deadline = time.monotonic() + wait
    while not try_lock():
        if time.monotonic() >= deadline:
            raise busy(object_id, what, wait)
        time.sleep(0.2)


@contextmanager
def file_lock(path: Path, object_id: str):
    """An exclusive flock on `path` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_lock() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        wait_for(try_lock, object_id, str(path))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def beside(location: str, name: str) -> Path | None:
    """The lock file for a table at a local `location` (None for URLs)."""
    if "://" in location and not location.startswith("file://"):
        return None
    folder = Path(location.removeprefix("file://"))
    return folder.parent / f".{folder.name}.{name}"
