"""Sync strategies: one module per way of deciding what a run reads and how it is written.

| sync_type                          | strategy          |
|------------------------------------|-------------------|
| full, merge without sync_column    | `snapshot`        |
| incremental, append_only, merge    | `watermark`       |
| hash                               | `hash_diff`       |
| change_tracking                    | `change_tracking` |
| cdf                                | `cdf`             |

With `scd_type: 2`, `scd2.historize` turns the strategy's batch into versions and closings.
The change-stream ones share `change_feed` (the full / changes / skip decision and the two
batches). A strategy is a function `Planner -> SyncBatch`; `plan_sync` opens the source
session, runs the object's strategy and arranges the read-ahead. Adding a sync type is one
module here plus its statements in `sql/statements.py`.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa

from sync_assets import memory
from sync_assets.bad_rows import BadRows
from sync_assets.columns import DELETED_FLAG
from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source
from sync_assets.state import SyncState
from sync_assets.strategies import cdf, change_tracking, hash_diff, scd2, snapshot, watermark
from sync_assets.strategies.planner import Planner, Strategy, SyncBatch, Window
from sync_assets.streams import Prefetch, with_null_column

__all__ = ["Planner", "SyncBatch", "Window", "plan_sync", "strategy_for"]


def strategy_for(obj: SyncObject, full_refresh: bool = False) -> Strategy:
    """The strategy that plans `obj`'s runs (a full refresh reads everything: the change
    feeds load in full, hash compares with nothing, the others read a snapshot)."""
    if obj.sync_type == "change_tracking":
        return change_tracking.plan
    if obj.sync_type == "cdf":
        return cdf.plan
    if obj.sync_type == "hash":
        return hash_diff.plan
    if full_refresh:
        return snapshot.plan
    if obj.sync_column and obj.sync_type != "full" and not obj.deletes_missing:
        return watermark.plan
    return snapshot.plan


def plan_sync(
    obj: SyncObject,
    source: Source,
    state: SyncState,
    window: Window | None,
    target=None,
    rejects: Path | None = None,
    full_refresh: bool = False,
    stale_hash: str | None = None,
) -> SyncBatch:
    """Open a source session and build the SyncBatch for one run of `obj`.

    `target` (optional) lets an unchanged-source skip check that the target still holds the
    row count the stored fingerprint describes (a table truncated by hand is synced again).
    `rejects` is the folder of quarantined rows (on_bad_rows: quarantine). `full_refresh`
    replaces the run's window (or the table) with everything the source holds, whatever the
    stored state says; the new state is stored as after a first load. `stale_hash` is the
    hash column of an object whose hash strategy shares the target with this run's strategy.
    """
    if full_refresh:
        obj = refreshing(obj)
        state = state.without_keys(window.keys if window else None, *_span(window))
    started = time.monotonic()
    rss_start = memory.start()
    stack = ExitStack()
    try:
        session = stack.enter_context(source.session(obj.source))
        bad_rows = BadRows(obj.object_id, obj.on_bad_rows, obj.merge_keys, rejects)
        session.bad_rows = bad_rows
        planner = Planner(obj, source, session, state, window, target)
        planner.full_refresh = full_refresh
        planner.check_range_coverage()
        batch = strategy_for(obj, full_refresh)(planner)
        if obj.scd_type == 2:  # any strategy's rows, kept as history
            batch = scd2.historize(planner, batch)
    except BaseException:
        stack.close()
        raise
    if full_refresh:
        batch = as_refresh(planner, batch)
    if stale_hash and batch.reader is not None and stale_hash not in batch.reader.schema.names:
        # rows this run writes no longer match their stored hash: NULL makes the object's
        # hash strategy compare (and rewrite) them, rather than trust a stale hash
        batch.reader = with_null_column(batch.reader, stale_hash, pa.string(), DELETED_FLAG)
    batch.resources = stack
    batch.bad_rows = bad_rows
    batch.obj = obj
    batch.plan_seconds = time.monotonic() - started
    batch.rss_start_mb = rss_start
    if batch.reader is None:
        stack.close()
    else:  # read ahead while the target writes; stopped before the session closes
        ahead = Prefetch(batch.reader)
        stack.callback(ahead.close)
        batch.reader = ahead.reader()
    return batch


def refreshing(obj: SyncObject) -> SyncObject:
    """The object as a full refresh runs it: nothing skipped, change feeds read in full."""
    if obj.scd_type == 2:
        raise ValueError(
            "full_refresh: an scd_type 2 target holds the history of every key, which a full "
            "refresh would replace with the current rows; it is refused"
        )
    return obj.model_copy(update={"skip_unchanged": False, "change_mode": "full"})


def as_refresh(p: Planner, batch: SyncBatch) -> SyncBatch:
    """The batch written as a replace of the run's window (or table); an empty source
    empties it too."""
    if batch.reader is None:
        sql = p.select([])
        empty = pa.RecordBatchReader.from_batches(p.session.schema(sql), iter(()))
        batch = SyncBatch(p.obj.object_id, batch.plan, batch.state, empty, source_sql=sql)
    batch.plan = dataclasses.replace(
        batch.plan, mode="replace", merge_keys=(), delete_missing=False, deletes=False
    )
    batch.full_resync = True
    batch.notes["sync/full_refresh"] = True
    return batch


def _span(window: Window | None):
    return (window.start, window.end) if window else (None, None)
