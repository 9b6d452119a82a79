"""Delta change data feed as a source (`sync_type: cdf`): where the full-sync fallback is
decided, and the net-change read.

One run reads one table version `v` (the session's snapshot):
- full load when change_mode is full, on the first run, when the table does not have
  `delta.enableChangeDataFeed = true`, or when the versions after the stored one are gone
  (vacuumed, or the log cleaned up); the reason goes into the metadata;
- nothing to do when the stored version is `v`;
- otherwise `load_cdf(stored + 1, v)`, reduced in DuckDB to the last change of each key
  (update pre-images dropped; within one commit a non-delete wins), flagged `__sync_deleted`
  for deletes, applied as a merge with deletes. `v` is stored with the data.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake.exceptions import DeltaError

from sync_assets.changes import changes_load, full_load, read_sql, stored_version
from sync_assets.sql.literals import quote_ident
from sync_assets.targets.base import DELETED_FLAG

CDF_VIEW = "__cdf"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


class ChangeDataFeedError(RuntimeError):
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


def plan(planner):
    """Build the SyncBatch of a cdf run (called by plan._Planner)."""
    obj, session = planner.obj, planner.session
    table = session.table
    version = table.version()
    last = stored_version(planner)
    reason = _full_reason(obj.change_mode, last, table)
    if reason is None and last >= version:
        return _with_notes(planner._skip(f"no new Delta versions since {last}"), version, f"table at version {version}")
    changes = None
    if reason is None:
        try:
            changes = pa.RecordBatchReader.from_stream(table.load_cdf(starting_version=last + 1, ending_version=version))
        except DeltaError as exc:
            reason = f"versions after {last} are no longer readable ({exc}): full reload"
    if reason is not None:
        batch = full_load(planner, read_sql(obj, full_relation(planner.relation), "duckdb"), version)
        return _with_notes(batch, version, reason)
    session.con.register(CDF_VIEW, changes)
    batch = changes_load(planner, read_sql(obj, net_changes_relation(list(obj.merge_keys)), "duckdb"), version)
    return _with_notes(batch, version, f"changes of versions {last + 1} to {version}")


def _full_reason(mode: str, last: int | None, table) -> str | None:
    if mode == "full":
        return "change_mode full: the whole table is reloaded every run"
    if not enabled(table):
        return "the change data feed is not enabled on the table (delta.enableChangeDataFeed): full reload"
    if last is None:
        if mode == "incremental":
            raise ChangeDataFeedError(
                "change_mode incremental: no Delta version is stored for this table yet; "
                "use change_mode full_incremental to load it in full first"
            )
        return "first sync: no Delta version stored yet"
    return None


def _with_notes(batch, version: int, decision: str):
    batch.notes = {"sync/cdf_version": int(version), "sync/cdf_decision": decision}
    return batch
