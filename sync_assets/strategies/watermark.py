"""Watermark strategy (`incremental`, `append_only`, and `merge` with a sync_column): rows
beyond each partition key's stored watermark, up to the high watermark the probe saw."""

from __future__ import annotations

from sync_assets.sql.literals import from_json_value, to_json_value
from sync_assets.sql.select import Bounds
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.targets.base import WritePlan


def plan(p: Planner) -> SyncBatch:
    obj = p.obj
    hi = p.probe(fingerprint=False)["hi"]
    typ = p.types[obj.sync_column]
    marks = {k: from_json_value(p.state.watermarks.get(k), typ) for k in p.keys()}
    behind = [k for k, m in marks.items() if m is None or (hi is not None and m < hi)]
    if hi is None or not behind:
        return p.skip("no rows beyond the stored watermark")
    sql = select_beyond(p, {k: marks[k] for k in behind}, hi)
    # the window's content is no longer what its fingerprint described; a watermark
    # never moves back (the source's max may drop when rows are deleted)
    new_state = p.state.without_fingerprints(*p.span()).with_watermark(behind, to_json_value(hi))
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
    return batch


def select_beyond(p: Planner, marks: dict, hi) -> str:
    """The source query for rows past each key's watermark `marks[key]`, up to `hi`."""
    col = p.obj.sync_column
    typ = p.types[col]
    groups: dict[object, list[str]] = {}
    for key, mark in marks.items():
        groups.setdefault(mark, []).append(key)
    if len(groups) == 1 and len(marks) == len(p.keys()):
        lo = next(iter(marks.values()))
        return p.select([Bounds(col, typ, lo, hi, include_nulls=lo is None)])
    # partitions of one run that were synced to different watermarks: each its own bound
    either = " OR ".join(_group_predicate(p, keys, lo, hi) for lo, keys in groups.items())
    return p.select([], [f"({either})"])


def _group_predicate(p: Planner, keys: list[str], lo, hi) -> str:
    windows = " OR ".join(p.partition_bounds(*p.key_span(k)).predicate(p.dialect) for k in keys)
    mark = Bounds(p.obj.sync_column, p.types[p.obj.sync_column], lo, hi, include_nulls=lo is None)
    return f"(({windows}) AND {mark.predicate(p.dialect)})"
