"""Watermark strategy (`incremental`, `append_only`, and `merge` with a sync_column): rows
beyond each partition key's stored watermark, up to the high watermark the probe saw.

`lookback` re-reads `(watermark - lookback, hi]` every run, so a transaction that commits
after a sync with an older sync_column value is still picked up; the rows are upserted on
merge_keys, so re-reading them changes nothing that did not change. Rows whose sync_column is
NULL are re-read every run when the object has merge_keys; without merge_keys only the initial
load reads them (they cannot be told apart from rows already appended), and every run reports
their count in `sync/null_sync_column_rows`.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sync_assets.sql.literals import from_json_value, to_json_value
from sync_assets.sql.select import Bounds
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.targets.base import WritePlan


def plan(p: Planner) -> SyncBatch:
    obj = p.obj
    probe = p.probe(fingerprint=False, rows=False)
    hi, nulls = probe["hi"], int(probe.get("n_null") or 0)
    typ = p.types[obj.sync_column]
    marks = {k: from_json_value(p.state.watermarks.get(k), typ) for k in p.keys()}
    lookback = _lookback(p, typ)
    # rows whose sync column is NULL have no watermark position: with merge_keys they are
    # re-read every run and upserted (unchanged ones are not rewritten); without, only the
    # initial load reads them, and every run reports how many there are
    keyed_nulls = bool(obj.merge_keys) and nulls > 0
    behind = [
        k
        for k, m in marks.items()
        if m is None or (hi is not None and m < hi) or lookback is not None or keyed_nulls
    ]
    if (hi is None and not keyed_nulls) or not behind:
        return _noted(p.skip("no rows beyond the stored watermark"), obj, nulls, lookback, marks)
    lows = {
        k: marks[k] - lookback if lookback is not None and marks[k] is not None else marks[k]
        for k in behind
    }
    sql = select_beyond(p, lows, hi, nulls=bool(obj.merge_keys))
    # the window's content is no longer what its fingerprint described; a watermark
    # never moves back (the source's max may drop when rows are deleted)
    new_state = p.state.without_fingerprints(*p.span())
    for key in behind:
        mark = marks[key] if hi is None or (marks[key] is not None and marks[key] > hi) else hi
        new_state = new_state.with_watermark([key], to_json_value(mark))
    if obj.merge_keys:
        write = WritePlan(
            "merge",
            tuple(obj.merge_keys),
            update=obj.sync_type != "append_only",
            window=p.target_window(),
        )
    else:
        write = WritePlan("append", window=p.target_window())
    batch = p.read(write, new_state, sql, hi)
    batch.full_resync = all(m is None for m in marks.values())
    return _noted(batch, obj, nulls, lookback, marks)


def _lookback(p: Planner, typ: pa.DataType) -> dt.timedelta | None:
    if p.obj.lookback is None:
        return None
    if not (pa.types.is_timestamp(typ) or pa.types.is_date(typ)):
        raise ValueError(
            f"field 'lookback': sync_column '{p.obj.sync_column}' is {typ}; a lookback needs a "
            "date or timestamp sync_column"
        )
    return p.obj.lookback


def _noted(batch: SyncBatch, obj, nulls: int, lookback, marks: dict) -> SyncBatch:
    """The lookback and the NULL sync-column rows, in the run's metadata."""
    if lookback is not None:
        batch.notes["sync/lookback"] = str(lookback)
    if nulls:
        first = all(m is None for m in marks.values())
        batch.notes["sync/null_sync_column_rows"] = nulls
        batch.notes["sync/null_sync_column_rows_read"] = bool(obj.merge_keys) or first
    return batch


def select_beyond(p: Planner, marks: dict, hi, nulls: bool = False) -> str:
    """The source query for rows past each key's watermark `marks[key]`, up to `hi`; rows
    whose sync column is NULL too when `nulls` (and always on a key's first load)."""
    col = p.obj.sync_column
    typ = p.types[col]
    groups: dict[object, list[str]] = {}
    for key, mark in marks.items():
        groups.setdefault(mark, []).append(key)
    if len(groups) == 1 and len(marks) == len(p.keys()):
        lo = next(iter(marks.values()))
        return p.select([Bounds(col, typ, lo, hi, include_nulls=nulls or lo is None)])
    # partitions of one run that were synced to different watermarks: each its own bound
    either = " OR ".join(_group_predicate(p, keys, lo, hi, nulls) for lo, keys in groups.items())
    return p.select([], [f"({either})"])


def _group_predicate(p: Planner, keys: list[str], lo, hi, nulls: bool) -> str:
    windows = " OR ".join(p.partition_bounds(*p.key_span(k)).predicate(p.dialect) for k in keys)
    mark = Bounds(
        p.obj.sync_column, p.types[p.obj.sync_column], lo, hi, include_nulls=nulls or lo is None
    )
    return f"(({windows}) AND {mark.predicate(p.dialect) or '1 = 1'})"
