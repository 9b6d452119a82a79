"""Delta change data feed as a source (`sync_type: cdf`): the net-change read; the full /
changes / skip decision is the shared one in `change_feed.py`.

One run reads one table version `v` (the session's snapshot):
- full load when change_mode is full, on the first run, when the table does not have
  `delta.enableChangeDataFeed = true`, or when the versions after the stored one are gone
  (vacuumed, or the log cleaned up: found when reading them); the reason goes into the metadata;
- nothing to do when the stored version is `v`;
- otherwise `load_cdf(stored + 1, v)`, reduced in DuckDB to the last change of each key
  (update pre-images dropped; within one commit a non-delete wins), flagged `__sync_deleted`
  for deletes, applied as a merge with deletes. `v` is stored with the data.
"""

from __future__ import annotations

import pyarrow as pa

from sync_assets.columns import DELETED_FLAG
from sync_assets.delta_cdf import ChangesGone, read_changes
from sync_assets.delta_read import column_mapped
from sync_assets.sql.literals import quote_ident
from sync_assets.strategies.change_feed import (
    ChangeFeedError,
    Decision,
    Feed,
    changes_load,
    decide,
    full_load,
    read_sql,
    stored_version,
)
from sync_assets.strategies.planner import Planner, SyncBatch

CDF_VIEW = "__cdf"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


class ChangeDataFeedError(ChangeFeedError):
    """The change data feed cannot serve this run (no state in incremental mode)."""


def enabled(table) -> bool:
    return table.metadata().configuration.get("delta.enableChangeDataFeed", "").lower() == "true"


def net_changes_relation(keys: list[str]) -> str:
    """The last change of each key in the registered CDF stream, with the delete flag."""
    part = ", ".join(quote_ident(k) for k in keys)
    hidden = ", ".join(CDF_COLUMNS + ("__rn",))
    return (
        f"(SELECT * EXCLUDE ({hidden}), _change_type = 'delete' AS {quote_ident(DELETED_FLAG)} FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY _commit_version DESC, "
        f"CASE WHEN _change_type = 'delete' THEN 0 ELSE 1 END DESC) AS __rn "
        f"FROM {CDF_VIEW} WHERE _change_type <> 'update_preimage') WHERE __rn = 1) AS src"
    )


def full_relation(view: str) -> str:
    return f"(SELECT *, FALSE AS {quote_ident(DELETED_FLAG)} FROM {view}) AS src"


def plan(p: Planner) -> SyncBatch:
    """Build the SyncBatch of a cdf run."""
    obj, table = p.obj, p.session.table
    version = table.version()
    last = stored_version(p)
    feed = Feed(
        "Delta",
        "this table",
        version,
        on=enabled(table),
        off_reason="the change data feed is not enabled on the table (delta.enableChangeDataFeed)",
    )
    decision = decide(obj.change_mode, last, feed, ChangeDataFeedError)
    changes = None
    if decision.action == "changes":
        changes, decision = _read_changes(p.session, last, version, decision)
    if decision.action == "skip":
        batch = p.skip(decision.reason)
    elif decision.action == "full":
        batch = full_load(p, read_sql(obj, full_relation(p.relation), "duckdb"), version)
    else:
        p.session.con.register(CDF_VIEW, changes)
        batch = changes_load(
            p, read_sql(obj, net_changes_relation(list(obj.merge_keys)), "duckdb"), version
        )
    batch.notes = {"sync/cdf_version": int(version), "sync/cdf_decision": decision.reason}
    return batch


def _read_changes(session, last: int, version: int, decision: Decision):
    """The CDF stream of versions last+1..version, or a full-load decision when they are gone.
    Column-mapped tables are read from the log by `delta_cdf` (deltalake's load_cdf refuses
    them); others by deltalake, deletion vectors included."""
    from deltalake.exceptions import DeltaError  # lazy: deltalake loads only for Delta work

    table = session.table
    try:
        if column_mapped(table):
            reader = read_changes(table, session.storage_options, last + 1, version)
        else:
            reader = pa.RecordBatchReader.from_stream(
                table.load_cdf(starting_version=last + 1, ending_version=version)
            )
    except (DeltaError, ChangesGone) as exc:
        return None, Decision(
            "full", f"versions after {last} are no longer readable ({exc}): full reload"
        )
    return reader, decision
