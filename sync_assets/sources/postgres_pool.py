"""Reused ADBC PostgreSQL connections.

A PostgreSQL connection costs ~50 ms to open here (TCP, auth, the driver's type catalogue
query), and one sync opens several in turn (source session, writer lock, state, declared
lengths, the write): with 40 objects in a run that was two thirds of the incremental run.
So a connection given back is kept, per URI and process, and handed to the next session.

A connection goes back clean: its transaction rolled back, its temporary tables (the
staging tables `__sync_staged` / `__sync_changed`) dropped and committed away, its session
advisory locks released. One that fails any of that, or the check when it is taken again (a
trivial query), is closed instead: a connection the server dropped is never
handed out. Idle connections older than `IDLE_S` are closed rather than reused, so a long
process (the daemon's sensors) does not hold server connections for ever.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from contextlib import contextmanager

IDLE_S = 60.0  # an idle connection older than this is closed, not reused
# idle connections kept in all (the oldest closed first): steps of one run use one or two at
# a time, and a process that meets many databases must not hold a connection to each
MAX_IDLE = 8
SWEEP_S = 5.0  # how often idle connections are checked for age
RESET = ("DISCARD TEMP", "SELECT pg_advisory_unlock_all()")

_lock = threading.Lock()
_idle: dict[str, list[tuple[float, object]]] = {}  # uri -> [(given back at, connection)]
_pid = os.getpid()


def connect(uri: str):
    """A new connection (the URI holds the password: never log it)."""
    return _driver().connect(uri)


def _driver():
    """adbc_driver_postgresql.dbapi, imported on first use (it costs start-up time)."""
    if "adbc_driver_postgresql.dbapi" in sys.modules or "polars" in sys.modules:
        import adbc_driver_postgresql.dbapi as adbc_pg

        return adbc_pg
    # The driver manager's dbapi imports polars, when installed, for a result backend it
    # only uses when asked for (pyarrow stays the default): 0.2 s of every run's start-up
    # here. Hidden while the driver loads, so that backend is not registered.
    sys.modules["polars"] = None  # type: ignore[assignment]  # `import polars` fails
    try:
        import adbc_driver_postgresql.dbapi as adbc_pg
    finally:
        del sys.modules["polars"]
    return adbc_pg


def _take(uri: str):
    """An idle connection to `uri` that still works, or None."""
    global _pid
    while True:
        with _lock:
            if os.getpid() != _pid:  # a forked child must not share its parent's sockets
                _idle.clear()
                _pid = os.getpid()
            stack = _idle.get(uri)
            if not stack:
                return None
            since, con = stack.pop()
        if time.monotonic() - since > IDLE_S:
            _close(con)
            continue
        try:
            # a trivial query (the driver begins its transaction lazily, so a bare rollback
            # may not reach the server): fails on a connection the server dropped
            with con.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchall()
            con.rollback()  # SET TRANSACTION must come first in the session's transaction
            return con
        except Exception:
            _close(con)


def acquire(uri: str):
    """A connection to `uri` with a fresh transaction (reused when one is idle)."""
    return _take(uri) or connect(uri)


def release(uri: str, con) -> None:
    """Give a connection back: reset and kept for reuse, or closed if that fails. Raises
    nothing (the caller's own error, if any, is what matters)."""
    try:
        con.rollback()
        with con.cursor() as cur:
            for statement in RESET:
                cur.execute(statement)
        con.commit()
    except Exception:
        _close(con)
        return
    if os.getpid() != _pid:
        _close(con)
        return
    with _lock:
        _idle.setdefault(uri, []).append((time.monotonic(), con))
        surplus = _surplus()
        _start_sweeper()
    for old in surplus:
        _close(old)


_sweeper: tuple[int, threading.Thread] | None = None  # (pid, thread)


def _start_sweeper() -> None:
    """A daemon thread that closes connections idle past IDLE_S even when no session comes
    (a sensor that ran once in the daemon); one per process, started on first release
    (under _lock)."""
    global _sweeper
    if _sweeper and _sweeper[0] == os.getpid() and _sweeper[1].is_alive():
        return
    thread = threading.Thread(target=_sweep, name="postgres-pool-sweeper", daemon=True)
    _sweeper = (os.getpid(), thread)
    thread.start()


def _sweep() -> None:
    while True:
        time.sleep(SWEEP_S)
        with _lock:
            expired = _surplus()
        for con in expired:
            _close(con)


def _surplus() -> list:
    """Take out the idle connections past MAX_IDLE or IDLE_S, oldest first (under _lock)."""
    now = time.monotonic()
    kept = sorted(
        ((since, uri, con) for uri, stack in _idle.items() for since, con in stack),
        key=lambda entry: entry[0],
    )
    drop = [e for i, e in enumerate(kept) if i < len(kept) - MAX_IDLE or now - e[0] > IDLE_S]
    for since, uri, con in drop:
        _idle[uri].remove((since, con))
        if not _idle[uri]:
            del _idle[uri]
    return [con for _, _, con in drop]


@contextmanager
def pooled(uri: str):
    """A connection for the block; given back (reset) afterwards."""
    con = acquire(uri)
    try:
        yield con
    finally:
        release(uri, con)


def close_all() -> None:
    """Close every idle connection (at exit, and in tests that stop their server)."""
    with _lock:
        cons = [con for stack in _idle.values() for _, con in stack]
        _idle.clear()
    for con in cons:
        _close(con)


def _close(con) -> None:
    try:
        con.close()
    except Exception:
        pass  # already gone with its server


atexit.register(close_all)
