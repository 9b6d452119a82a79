"""What change-stream sync types share: the projection over a change relation.

A change stream (SQL Server Change Tracking, Delta change data feed) is one row per changed
key with the flag `__sync_deleted`; deleted keys carry no values, so they pass any filter.
"""

from __future__ import annotations

from sync_assets.sql.literals import quote_ident
from sync_assets.sql.select import select_sql
from sync_assets.targets.base import DELETED_FLAG


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
