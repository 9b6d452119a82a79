"""Retries of failed sync runs: `retries:` of an object as Dagster's RetryPolicy, and which
errors are worth retrying.

A lost connection, a timeout, a deadlock or a writer lock held elsewhere may be gone on the
next attempt; a config mistake, a missing permission, a type conflict, a value that does not
fit or a violated constraint will fail the same way every time, so those fail at once
(`dg.Failure(allow_retries=False)`), without waiting out the retries.
"""

from __future__ import annotations

import dagster as dg

from sync_assets.config.models import SyncObject

# SQLSTATE classes that name the statement or the data, not the moment: data exception,
# integrity constraint violation, invalid authorization, syntax error or access rule violation
PERMANENT_SQLSTATE = ("22", "23", "28", "42")
# DB-API exception classes of the same kinds (every driver here follows PEP 249 names)
PERMANENT_DBAPI = ("IntegrityError", "DataError", "ProgrammingError", "NotSupportedError")


def retry_policy_for(obj: SyncObject) -> dg.RetryPolicy | None:
    """The object's `retries:` as a RetryPolicy (None: a failed run is not retried)."""
    spec = obj.retries
    if spec is None:
        return None
    return dg.RetryPolicy(
        max_retries=spec.max,
        delay=spec.delay_s,
        backoff=dg.Backoff.EXPONENTIAL if spec.backoff == "exponential" else dg.Backoff.LINEAR
        if spec.backoff == "linear" else None,
        jitter=dg.Jitter.PLUS_MINUS if spec.jitter else None,
    )  # fmt: skip


def is_permanent(exc: BaseException) -> bool:
    """Whether `exc` (or an error it was raised from) fails the same way on every retry."""
    from sync_assets.locks import WriterBusy

    for error in _chain(exc):
        if isinstance(error, WriterBusy):
            return False  # the other writer finishes: a retry is what helps
        if isinstance(error, (ValueError, TypeError, KeyError, PermissionError)):
            return True  # our own checks (config, types, values, keys) and pyarrow's
        names = {c.__name__ for c in type(error).__mro__}
        if names & set(PERMANENT_DBAPI) or _sqlstate(error)[:2] in PERMANENT_SQLSTATE:
            return True
    return False


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE a driver error carries (psycopg / snowflake `sqlstate`, pyodbc args[0])."""
    state = getattr(error, "sqlstate", None)
    if state is None and type(error).__module__.startswith("pyodbc") and error.args:
        state = error.args[0]
    return state if isinstance(state, str) else ""
