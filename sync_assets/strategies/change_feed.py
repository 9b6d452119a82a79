"""What the change-stream strategies (SQL Server Change Tracking, Delta change data feed)
share: the decision between a full load, the changes, or nothing, and the two batches.

A change stream is one row per changed key with the flag `__sync_deleted`; deleted keys
carry no values, so they pass any filter. The version the stream was read up to is stored
with the data as the object's watermark.

The decision, in order (the first that applies):
1. change_mode full -> full load, every run;
2. the feed is off on the table -> full load (Change Tracking raises instead: it has no
   version to store without it);
3. no stored version -> full load (change_mode incremental: an error);
4. the stored version is older than the oldest the feed still holds -> full load;
5. nothing newer than the stored version -> skip;
6. otherwise the changes after the stored version.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_assets.columns import DELETED_FLAG
from sync_assets.sql.literals import quote_ident
from sync_assets.sql.select import select_sql
from sync_assets.state import WHOLE
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.targets.base import WritePlan


class ChangeFeedError(RuntimeError):
    """The change feed cannot serve this run (no state in incremental mode, feed missing)."""


@dataclass(frozen=True)
class Feed:
    """What one change feed says about a table, as of the run's snapshot."""

    label: str  # "Change Tracking", "Delta": how versions are named in messages
    table: str
    current: int  # the version this run reads up to
    on: bool = True  # the feed is enabled on the table
    off_reason: str = ""
    oldest: int | None = None  # the oldest stored version changes can still be read from
    oldest_name: str = ""  # what `oldest` is called (CHANGE_TRACKING_MIN_VALID_VERSION)


@dataclass(frozen=True)
class Decision:
    action: str  # "full", "changes" or "skip"
    reason: str


def decide(
    mode: str, last: int | None, feed: Feed, error: type[ChangeFeedError] = ChangeFeedError
) -> Decision:
    """What one run reads, from the stored version and the feed's state (see module doc)."""
    if mode == "full":
        return Decision("full", "change_mode full: the whole table is reloaded every run")
    if not feed.on:
        return Decision("full", f"{feed.off_reason}: full reload")
    if last is None:
        if mode == "incremental":
            raise error(
                f"change_mode incremental: no {feed.label} version is stored for {feed.table} yet; "
                "use change_mode full_incremental to load it in full first"
            )
        return Decision("full", f"first sync: no {feed.label} version stored yet")
    if feed.oldest is not None and last < feed.oldest:
        return Decision(
            "full",
            f"stored version {last} is older than {feed.oldest_name} {feed.oldest} "
            "(changes in between were cleaned up): full reload",
        )
    if last >= feed.current:
        return Decision("skip", f"no changes since {feed.label} version {last}")
    return Decision("changes", f"changes of versions {last + 1} to {feed.current}")


def stored_version(p: Planner) -> int | None:
    """The source version the target was last synced to (the object's watermark)."""
    last = p.state.watermarks.get(WHOLE)
    return None if last is None else int(last)


def full_load(p: Planner, sql: str, version: int) -> SyncBatch:
    """A SyncBatch that replaces the whole table with `sql`'s rows, as of `version`."""
    state = p.state.with_watermark([WHOLE], int(version))
    batch = p.read(WritePlan("replace", soft_delete=p.obj.soft_delete), state, sql, version)
    batch.full_resync = True
    return batch


def changes_load(p: Planner, sql: str, version: int) -> SyncBatch:
    """A SyncBatch that merges `sql`'s change stream (deletes flagged) up to `version`."""
    obj = p.obj
    state = p.state.with_watermark([WHOLE], int(version))
    write = WritePlan("merge", tuple(obj.merge_keys), deletes=True, soft_delete=obj.soft_delete)
    return p.read(write, state, sql, version)


def read_sql(obj, relation: str, dialect: str) -> str:
    """The synced projection over a change relation: deleted keys pass any filter (their
    values are gone), and the delete flag rides along."""
    flag = quote_ident(DELETED_FLAG)
    deleted = f"{flag} = 1" if dialect == "tsql" else flag
    extra = [f"({deleted} OR ({obj.filter_condition}))"] if obj.filter_condition else []
    sql = select_sql(relation, obj.column_mappings, None, [], dialect, extra)
    if obj.column_mappings is not None:
        sql = sql.replace(" FROM ", f", {flag} FROM ", 1)
    return sql
