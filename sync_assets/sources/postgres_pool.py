"""Reused ADBC PostgreSQL connections.

A PostgreSQL connection costs ~50 ms to open here (TCP, auth, the driver's type catalogue
query), and one sync opens several in turn (source session, writer lock, state, declared
lengths, the write): with 40 objects in a run that was two thirds of the incremental run.
So a connection given back is kept, per URI and process, and handed to the next session.

A connection goes back clean: its transaction rolled back, its temporary tables (the
staging tables `__sync_staged` / `__sync_changed`) dropped and committed away, its session
advisory locks released. One that fails any of that, or the check when it is taken again (a
query), is closed instead: a connection the server dropped is never handed out. Idle
connections older than `IDLE_S` are closed rather than reused, so a long process (the
daemon's sensors) does not hold server connections for ever.

Of those ~50 ms, ~47 are the driver loading its type table (every type's OID and how to
decode it, read from the catalogue) into the ADBC database object, before the connection
itself (~3 ms). So new connections to one URI share one database object and its table. A
type created after the table was loaded (an enum, a domain, a composite type, an extension's
type) would then arrive as opaque bytes, read as text: a silently different type. So every
connection, new or reused, is checked when handed out against a fingerprint of the
catalogue's user types (`TYPES`); when they changed, the connection is closed and a new
database object loads the table again.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from contextlib import contextmanager

IDLE_S = 60.0  # an idle connection older than this is closed, not reused
# idle connections kept in all (the oldest closed first): steps of one run use one or two at
# a time, and a process that meets many databases must not hold a connection to each
MAX_IDLE = 8
SWEEP_S = 5.0  # how often idle connections are checked for age
RESET = ("DISCARD TEMP", "SELECT pg_advisory_unlock_all()")
# What the driver's type table depends on, beyond the built-in types: user and extension
# types (OIDs from 16384, FirstNormalObjectId) other than tables' row types and arrays (so
# the staging tables a write creates change nothing), and the attributes of composite types.
TYPES = (
    "SELECT count(*), coalesce(max(t.oid::int8), 0), (SELECT coalesce(sum(hashtext("
    "a.attname)::int8 + a.atttypid::int8 + a.attnum), 0) FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE c.relkind = 'c' AND NOT "
    "a.attisdropped) FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class r ON r.oid = "
    "t.typrelid WHERE t.oid >= 16384 AND t.typcategory <> 'A' AND (r.relkind IS NULL OR "
    "r.relkind = 'c')"
)

_lock = threading.Lock()
_idle: dict[str, list[tuple[float, object]]] = {}  # uri -> [(given back at, connection)]
_databases: dict[str, tuple[object, tuple]] = {}  # uri -> (shared database, its TYPES)
_types: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection -> its TYPES
_pid = os.getpid()


def connect(uri: str):
    """A new connection (the URI holds the password: never log it), sharing the process's
    type table for `uri` while the catalogue's types are unchanged."""
    with _lock:
        _forget_parent()
        entry = _databases.get(uri)
    if entry is not None:
        con = _open(entry[0])
        if _current(con, entry[1]):
            return con
    # none yet, or the types changed: a new database object loads the table (and replaces
    # the old one below)
    database = _driver_database(uri)  # held by the pool from here
    try:
        con = _open(database)
        types = _fingerprint(con)
    except Exception:
        _close(database)
        raise
    with _lock:
        old = _databases.get(uri)
        _databases[uri] = (database, types)
    if old is not None:
        _close(old[0])  # closes once its last connection has closed
    _types[con] = types
    return con


def _driver_database(uri: str):
    """A shared ADBC database object for `uri`: it loads the driver's type table (~47 ms)."""
    _driver()
    import adbc_driver_manager.dbapi as dbapi
    import adbc_driver_postgresql

    # the dbapi's own holder of a database that several connections share (the one
    # Connection.adbc_clone uses): closed when the pool and every connection let go
    return dbapi._SharedDatabase(adbc_driver_postgresql.connect(uri))


def _open(database):
    """A connection of `database` (~3 ms): as the driver's dbapi.connect makes one."""
    import adbc_driver_manager
    import adbc_driver_manager.dbapi as dbapi

    return dbapi.Connection(database, adbc_driver_manager.AdbcConnection(database._db))


def _fingerprint(con) -> tuple:
    """The catalogue's TYPES, read on `con` (rolled back after, so the caller's next
    statement, e.g. SET TRANSACTION, begins the transaction)."""
    try:
        with con.cursor() as cur:
            cur.execute(TYPES)
            types = tuple(cur.fetchall()[0])
        con.rollback()
        return types
    except Exception:
        _close(con)
        raise


def _current(con, types: tuple) -> bool:
    """Whether `con` works and its type table matches the catalogue; closed if not. Raises
    if the check itself fails (a server that is down: the caller's connect says so)."""
    if _fingerprint(con) == types:
        _types[con] = types
        return True
    _close(con)
    return False


def _forget_parent() -> None:
    """In a forked child, forget the parent's connections (never share a socket); under _lock."""
    global _pid
    if os.getpid() != _pid:
        _idle.clear()
        _databases.clear()
        _pid = os.getpid()


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
    """An idle connection to `uri` that still works and knows the catalogue's types, or None."""
    while True:
        with _lock:
            _forget_parent()
            stack = _idle.get(uri)
            if not stack:
                return None
            since, con = stack.pop()
        if time.monotonic() - since > IDLE_S:
            _close(con)
            continue
        try:
            # a query (the driver begins its transaction lazily, so a bare rollback may not
            # reach the server): fails on a connection the server dropped
            if _current(con, _types.get(con, ())):
                return con
        except Exception:
            pass  # closed: try the next one, or a new connection


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
    """Close every idle connection and forget the type tables (at exit, and in tests that
    stop their server)."""
    with _lock:
        cons = [con for stack in _idle.values() for _, con in stack]
        cons += [database for database, _ in _databases.values()]
        _idle.clear()
        _databases.clear()
    for con in cons:
        _close(con)


def _close(con) -> None:
    try:
        con.close()
    except Exception:
        pass  # already gone with its server


atexit.register(close_all)
