"""Plan one sync: read state, probe the source, decide what to read and how to write it.

The probe and the read run in one source session (one snapshot), and the read is bounded by
the high watermark the probe saw, so the state committed with the rows describes exactly the
rows that were read: nothing is read twice by the next run, nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import pyarrow as pa

from sync_assets import memory
from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sql.literals import from_json_value, quote_ident, to_json_value
from sync_assets.sql.select import Bounds, probe_sql, select_sql, window_bounds
from sync_assets.state import WHOLE, SyncState
from sync_assets.streams import Prefetch
from sync_assets.targets.base import TargetWindow, WritePlan


@dataclass(frozen=True)
class Window:
    """The partition keys of a run and the time window they cover (half-open)."""

    start: dt.datetime
    end: dt.datetime
    keys: tuple[str, ...]


@dataclass
class SyncBatch:
    """What an asset hands its IO manager: a lazy row stream and how to apply it."""

    object_id: str
    plan: WritePlan
    state: SyncState
    reader: pa.RecordBatchReader | None = None  # None: nothing to write
    skip_reason: str | None = None
    watermark: object = None
    full_resync: bool = False
    source_sql: str | None = None
    plan_seconds: float = 0.0
    rss_start_mb: float | None = None  # process RSS when the sync began (see memory.py)
    notes: dict = field(default_factory=dict)  # extra sync/* metadata of the decision taken
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    def elapsed(self) -> float:
        """Seconds spent planning (probe and opening the source)."""
        return self.plan_seconds

    def close(self) -> None:
        """Release the source session (the stream is unusable afterwards)."""
        self._stack.close()


def plan_sync(obj: SyncObject, source: Source, state: SyncState, window: Window | None, target=None) -> SyncBatch:
    """Open a source session and build the SyncBatch for one run of `obj`.

    `target` (optional) lets an unchanged-source skip check that the target still holds the
    row count the stored fingerprint describes (a table truncated by hand is synced again).
    """
    started = time.monotonic()
    rss_start = memory.start()
    stack = ExitStack()
    try:
        session = stack.enter_context(source.session(obj.source))
        batch = _Planner(obj, source, session, state, window, target).build()
    except BaseException:
        stack.close()
        raise
    batch._stack = stack
    batch.plan_seconds = time.monotonic() - started
    batch.rss_start_mb = rss_start
    if batch.reader is None:
        stack.close()
    else:  # read ahead while the target writes; stopped before the session closes
        ahead = Prefetch(batch.reader)
        stack.callback(ahead.close)
        batch.reader = ahead.reader()
    return batch


class _Planner:
    def __init__(self, obj, source, session: SourceSession, state, window, target=None):
        self.obj, self.source, self.session = obj, source, session
        self.state, self.window, self.target = state, window, target
        self.dialect = source.dialect
        self.relation = source.relation(obj.source)
        self.types = self._column_types()

    def _column_types(self) -> dict[str, pa.DataType]:
        wanted = [c for c in (self.obj.sync_column, self.obj.partition and self.obj.partition.column) if c]
        if not wanted:
            return {}
        cols = ", ".join(quote_ident(c) for c in dict.fromkeys(wanted))
        schema = self.session.schema(f"SELECT {cols} FROM {self.relation}")
        return {f.name: f.type for f in schema}

    # ------------------------------------------------------------------ building blocks

    def _window_bounds(self) -> list[Bounds]:
        if not self.window:
            return []
        part = self.obj.partition
        return [window_bounds(part.column, self.types[part.column], self.window.start, self.window.end, part.format)]

    def _select(self, extra: list[Bounds], predicates=()) -> str:
        obj = self.obj
        bounds = self._window_bounds() + extra
        return select_sql(self.relation, obj.column_mappings, obj.filter_condition, bounds, self.dialect, predicates)

    def _probe(self, fingerprint: bool) -> dict:
        sql = probe_sql(self._select([]), self.obj.sync_column, self.dialect, fingerprint=fingerprint)
        return self.session.fetch_small(sql).to_pylist()[0]

    def _target_window(self) -> TargetWindow | None:
        if not self.window:
            return None
        part = self.obj.partition
        return TargetWindow(
            column=self.obj.target_column_for(part.column),
            start=self.window.start, end=self.window.end, keys=self.window.keys,
            granularity=part.granularity, fmt=part.format, timezone=part.timezone,
        )

    def _keys(self) -> tuple[str, ...]:
        return self.window.keys if self.window else (WHOLE,)

    def _span(self):
        return (self.window.start, self.window.end) if self.window else (None, None)

    # ------------------------------------------------------------------ decisions

    def build(self) -> SyncBatch:
        if self.obj.sync_type == "change_tracking":
            from sync_assets.tsql import change_tracking

            return change_tracking.plan(self)
        if self.obj.sync_type == "cdf":
            from sync_assets import change_data_feed

            return change_data_feed.plan(self)
        if self.obj.sync_column and self.obj.sync_type != "full" and not self.obj.deletes_missing:
            return self._incremental()
        return self._snapshot()

    def _snapshot(self) -> SyncBatch:
        """full, and merge of the whole source: compare fingerprints, then read everything."""
        obj = self.obj
        start, end = self._span()
        if obj.skip_unchanged:
            probe = self._probe(fingerprint=True)
            if self._unchanged(probe):
                return self._skip("source unchanged since the last sync (same fingerprint)")
        else:  # no skip wanted: spare the source a full hashing scan
            probe = self._probe(fingerprint=False) if obj.sync_column else {"n_rows": 0, "fingerprint": None}
        new_state = self.state.with_fingerprint(start, end, probe.get("fingerprint"), probe["n_rows"])
        if obj.sync_column and probe.get("hi") is not None:
            new_state = new_state.with_watermark(self._keys(), to_json_value(probe["hi"]))
        if obj.sync_type == "full":
            plan = WritePlan("replace", window=self._target_window())
        else:
            plan = WritePlan("merge", tuple(obj.merge_keys), delete_missing=obj.deletes_missing, window=self._target_window())
        return self._read(plan, new_state, self._select([]), probe.get("hi"))

    def _unchanged(self, probe: dict) -> bool:
        """The stored fingerprint matches, and the target still holds that many rows."""
        known = self.state.fingerprint_for(*self._span())
        if not known or known["fingerprint"] != probe["fingerprint"] or known["rows"] != probe["n_rows"]:
            return False
        return self.target is None or self.target.count_rows(self._target_window()) == probe["n_rows"]

    def _incremental(self) -> SyncBatch:
        """incremental, append_only and watermark merges: rows beyond each key's watermark."""
        obj = self.obj
        hi = self._probe(fingerprint=False)["hi"]
        typ = self.types[obj.sync_column]
        marks = {k: from_json_value(self.state.watermarks.get(k), typ) for k in self._keys()}
        behind = [k for k, m in marks.items() if m is None or (hi is not None and m < hi)]
        if hi is None or not behind:
            return self._skip("no rows beyond the stored watermark")
        sql = self._incremental_select({k: marks[k] for k in behind}, hi)
        # the window's content is no longer what its fingerprint described; a watermark
        # never moves back (the source's max may drop when rows are deleted)
        new_state = self.state.without_fingerprints(*self._span()).with_watermark(behind, to_json_value(hi))
        if obj.merge_keys:
            plan = WritePlan("merge", tuple(obj.merge_keys), update=obj.sync_type != "append_only", window=self._target_window())
        else:
            plan = WritePlan("append", window=self._target_window())
        batch = self._read(plan, new_state, sql, hi)
        batch.full_resync = all(m is None for m in marks.values())
        return batch

    def _incremental_select(self, marks: dict, hi) -> str:
        col = self.obj.sync_column
        typ = self.types[col]
        groups: dict[object, list[str]] = {}
        for key, mark in marks.items():
            groups.setdefault(mark, []).append(key)
        if len(groups) == 1 and len(marks) == len(self._keys()):
            lo = next(iter(marks.values()))
            return self._select([Bounds(col, typ, lo, hi, include_nulls=lo is None)])
        # partitions of one run that were synced to different watermarks: each its own bound
        either = " OR ".join(self._group_predicate(keys, lo, hi) for lo, keys in groups.items())
        return self._select([], [f"({either})"])

    def _group_predicate(self, keys: list[str], lo, hi) -> str:
        part = self.obj.partition
        spans = [self._key_window(k) for k in keys]
        windows = " OR ".join(
            window_bounds(part.column, self.types[part.column], s, e, part.format).predicate(self.dialect)
            for s, e in spans
        )
        mark = Bounds(self.obj.sync_column, self.types[self.obj.sync_column], lo, hi, include_nulls=lo is None)
        return f"(({windows}) AND {mark.predicate(self.dialect)})"

    def _key_window(self, key: str):
        from sync_assets.partitions import key_window

        return key_window(self.obj.partition, key)

    def _read(self, plan: WritePlan, new_state: SyncState, sql: str, hi) -> SyncBatch:
        reader = self.session.stream(sql, self.obj.batch_size)
        return SyncBatch(self.obj.object_id, plan, new_state, reader, watermark=hi, source_sql=sql)

    def _skip(self, reason: str) -> SyncBatch:
        return SyncBatch(self.obj.object_id, WritePlan("append", window=self._target_window()), self.state, skip_reason=reason)
