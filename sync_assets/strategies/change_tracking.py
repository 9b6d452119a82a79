"""SQL Server Change Tracking as a source (`sync_type: change_tracking`): the CHANGETABLE
reads; the full / changes / skip decision is the shared one in `change_feed.py`.

One run, inside one SNAPSHOT transaction of the source:
1. read CHANGE_TRACKING_CURRENT_VERSION() and CHANGE_TRACKING_MIN_VALID_VERSION(table);
2. decide: full load, nothing to do, or the changes since the stored version;
3. read either the whole table or CHANGETABLE(CHANGES table, last) LEFT JOINed to the table
   on its primary key: inserted and updated keys carry their current row, deleted keys only
   the key, flagged in `__sync_deleted`;
4. the target applies it as a merge with deletes (hard, or `_is_deleted` with soft_delete) and
   stores the current version as the object's watermark in the same transaction.

CHANGETABLE is not something sqlglot parses: the text is built here and tested as text.
"""

from __future__ import annotations

from sync_assets.columns import DELETED_FLAG
from sync_assets.connection_types import default_schema
from sync_assets.sql.flavors import SQLSERVER
from sync_assets.sql.statements import quote, string_literal, table_name
from sync_assets.strategies.change_feed import (
    ChangeFeedError,
    Decision,
    Feed,
    changes_load,
    full_load,
    read_sql,
    stored_version,
)
from sync_assets.strategies.change_feed import decide as decide_feed
from sync_assets.strategies.planner import Planner, SyncBatch


class ChangeTrackingError(ChangeFeedError):
    """Change Tracking cannot serve this run (not enabled, or no state in incremental mode)."""


def decide(
    mode: str, last: int | None, current: int | None, min_valid: int | None, table: str
) -> Decision:
    """What one run reads, from the stored version and the table's Change Tracking versions."""
    if current is None or min_valid is None:
        raise ChangeTrackingError(
            f"Change Tracking is not enabled on {table} (or its database): "
            f"ALTER DATABASE … SET CHANGE_TRACKING = ON; ALTER TABLE {table} ENABLE CHANGE_TRACKING"
        )
    feed = Feed(
        "Change Tracking",
        table,
        int(current),
        oldest=int(min_valid),
        oldest_name="CHANGE_TRACKING_MIN_VALID_VERSION",
    )
    return decide_feed(mode, last, feed, ChangeTrackingError)


def versions_sql(table: str) -> str:
    return (
        "SELECT CHANGE_TRACKING_CURRENT_VERSION() AS current_version, "
        f"CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID({string_literal(table, SQLSERVER)})) AS min_valid_version"
    )


def full_relation(table: str) -> str:
    """The whole table, every row flagged as not deleted."""
    return (
        f"(SELECT t.*, CAST(0 AS BIT) AS {quote(DELETED_FLAG, SQLSERVER)} FROM {table} AS t) AS src"
    )


def changes_relation(table: str, columns: list[str], keys: list[str], last_version: int) -> str:
    """Net changes after `last_version`: keys from CHANGETABLE, values from the table as of
    the snapshot (NULL for deleted keys), and the delete flag."""

    def q(name):
        return quote(name, SQLSERVER)

    flag = f"CASE WHEN ct.[SYS_CHANGE_OPERATION] = N'D' THEN CAST(1 AS BIT) ELSE CAST(0 AS BIT) END AS {q(DELETED_FLAG)}"
    values = [f"ct.{q(c)} AS {q(c)}" if c in keys else f"t.{q(c)} AS {q(c)}" for c in columns]
    join = " AND ".join(f"t.{q(k)} = ct.{q(k)}" for k in keys)
    return (
        f"(SELECT {', '.join(values)}, {flag} "
        f"FROM CHANGETABLE(CHANGES {table}, {int(last_version)}) AS ct "
        f"LEFT JOIN {table} AS t ON {join}) AS src"
    )


def plan(p: Planner) -> SyncBatch:
    """Build the SyncBatch of a change_tracking run."""
    obj, session = p.obj, p.session
    table = table_name(
        obj.source.schema_ or default_schema(p.source.conn), obj.source.object, SQLSERVER
    )
    versions = session.fetch_small(versions_sql(table)).to_pylist()[0]
    current, min_valid = versions["current_version"], versions["min_valid_version"]
    last = stored_version(p)
    decision = decide(obj.change_mode, last, current, min_valid, table)
    notes = {
        "sync/change_tracking_version": int(current),
        "sync/change_tracking_decision": decision.reason,
    }
    if decision.action == "skip":
        batch = p.skip(decision.reason)
    elif decision.action == "full":
        batch = full_load(p, read_sql(obj, full_relation(table), "tsql"), current)
    else:
        columns = session.schema(f"SELECT * FROM {table}").names
        relation = changes_relation(table, columns, list(obj.merge_keys), last)
        batch = changes_load(p, read_sql(obj, relation, "tsql"), current)
    batch.notes = notes
    return batch
