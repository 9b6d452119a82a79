"""What change-stream sync types share: the projection over a change relation.

A change stream (SQL Server Change Tracking, Delta change data feed) is one row per changed
key with the flag `__sync_deleted`; deleted keys carry no values, so they pass any filter.
"""

from __future__ import annotations

from sync_assets.sql.literals import quote_ident
from sync_assets.sql.select import select_sql
from sync_assets.state import WHOLE
from sync_assets.targets.base import DELETED_FLAG, WritePlan


def stored_version(planner) -> int | None:
    """The source version the target was last synced to (the object's watermark)."""
    last = planner.state.watermarks.get(WHOLE)
    return None if last is None else int(last)


def full_load(planner, sql: str, version: int):
    """A SyncBatch that replaces the whole table with `sql`'s rows, as of `version`."""
    state = planner.state.with_watermark([WHOLE], int(version))
    batch = planner._read(WritePlan("replace", soft_delete=planner.obj.soft_delete), state, sql, version)
    batch.full_resync = True
    return batch


def changes_load(planner, sql: str, version: int):
    """A SyncBatch that merges `sql`'s change stream (deletes flagged) up to `version`."""
    obj = planner.obj
    state = planner.state.with_watermark([WHOLE], int(version))
    write = WritePlan("merge", tuple(obj.merge_keys), deletes=True, soft_delete=obj.soft_delete)
    return planner._read(write, state, sql, version)


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
