"""The planner every sync strategy builds on: state, source session, partition window, and
the building blocks (select, probe, read, skip) a strategy composes into a `SyncBatch`.

The probe and the read run in one source session (one snapshot), and the read is bounded by
the high watermark the probe saw, so the state committed with the rows describes exactly the
rows that were read: nothing is read twice by the next run, nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

import pyarrow as pa

from sync_assets.config.models import SyncObject
from sync_assets.partitions import key_window
from sync_assets.sources.base import Source, SourceSession
from sync_assets.sql.literals import quote_ident
from sync_assets.sql.select import Bounds, probe_sql, select_sql, window_bounds
from sync_assets.state import WHOLE, SyncState
from sync_assets.targets.base import Target, TargetWindow, WritePlan, target_window


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
    bad_rows: object = None  # bad_rows.BadRows: this run's refused or quarantined rows
    obj: SyncObject | None = None  # the object as this run syncs it (its strategy's variant)
    strategy: str | None = None  # the name of that strategy, for objects with `strategies`
    # the target's columns after the write (dagster/column_schema), set by the IO manager
    column_schema: object = None
    # what the stream holds open (source session, read-ahead thread), released by close()
    resources: ExitStack = field(default_factory=ExitStack, repr=False)

    def latest_watermark(self):
        """The watermark this run read up to, else the highest one stored (JSON form)."""
        if self.watermark is not None:
            return self.watermark
        marks = [v for v in self.state.watermarks.values() if v is not None]
        return max(marks, key=str) if marks else None

    def elapsed(self) -> float:
        """Seconds spent planning (probe and opening the source)."""
        return self.plan_seconds

    def close(self, after_failure: bool = False) -> None:
        """Release the source session and the writer lock (the stream is unusable after).
        After a failed write, an error while releasing (e.g. a rollback on a connection the
        server dropped) is not raised over the write's own error."""
        if after_failure:
            with suppress(Exception):
                self.resources.close()
        else:
            self.resources.close()


class Planner:
    """One run of one object: what a strategy reads from and the blocks it plans with."""

    def __init__(
        self,
        obj: SyncObject,
        source: Source,
        session: SourceSession,
        state: SyncState,
        window: Window | None,
        target: Target | None = None,
    ):
        self.obj, self.source, self.session = obj, source, session
        self.state, self.window, self.target = state, window, target
        self.dialect = source.dialect
        # a full refresh: compare with nothing stored (hash), replace what the run owns
        self.full_refresh = False
        self.relation = source.relation(obj.source)
        self.types = self._column_types()

    def _column_types(self) -> dict[str, pa.DataType]:
        """Arrow types of the sync and partition columns (their literals are typed)."""
        wanted = [
            c for c in (self.obj.sync_column, self.obj.partition and self.obj.partition.column) if c
        ]
        if not wanted:
            return {}
        cols = ", ".join(quote_ident(c) for c in dict.fromkeys(wanted))
        schema = self.session.schema(f"SELECT {cols} FROM {self.relation}")
        return {f.name: f.type for f in schema}

    # ------------------------------------------------------------------ the run's window

    def keys(self) -> tuple[str, ...]:
        """The partition keys of the run (WHOLE for an unpartitioned object)."""
        return self.window.keys if self.window else (WHOLE,)

    def span(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        return (self.window.start, self.window.end) if self.window else (None, None)

    def window_bounds(self) -> list[Bounds]:
        if not self.window:
            return []
        return [self.partition_bounds(self.window.start, self.window.end)]

    def partition_bounds(self, start: dt.datetime, end: dt.datetime) -> Bounds:
        part = self.obj.partition
        return window_bounds(part.column, self.types[part.column], start, end, part.format)

    def key_span(self, key: str) -> tuple[dt.datetime, dt.datetime]:
        return key_window(self.obj.partition, key)

    def target_window(self) -> TargetWindow | None:
        """The slice of the target the run owns."""
        if not self.window:
            return None
        return target_window(self.obj, self.window.start, self.window.end, self.window.keys)

    # ------------------------------------------------------------------ reading the source

    def select(self, extra: list[Bounds], predicates=()) -> str:
        """The object's source query within the run's window, with further bounds."""
        obj = self.obj
        bounds = self.window_bounds() + extra
        return select_sql(
            self.relation,
            obj.column_mappings,
            obj.filter_condition,
            bounds,
            self.dialect,
            predicates,
        )

    def check_range_coverage(self) -> None:
        """Integer ranges are a fixed set: a run that includes the last range fails when
        source rows lie at or beyond `partition.end`, which no range would ever sync."""
        part = self.obj.partition
        if not (part and part.is_range and self.window) or self.window.end < part.end:
            return
        beyond = Bounds(part.column, self.types[part.column], part.end, None, kind="window")
        rows = select_sql(self.relation, None, self.obj.filter_condition, [beyond], self.dialect)
        sql = f"SELECT COUNT(*) AS n FROM ({rows}) AS beyond"
        n = self.session.fetch_small(sql).column(0)[0].as_py()
        if n:
            raise ValueError(
                f"field 'partition.end': {n} source rows have {part.column} >= {part.end}, "
                "beyond the last range: raise partition.end (the ranges are a fixed set)"
            )

    def probe(self, fingerprint: bool, rows: bool = True) -> dict:
        """Row count, high watermark, NULL sync-column rows and (optionally) content
        fingerprint, in one scan; without `rows` (no count wanted) and with an index led by
        the sync column, from that index instead (no `n_rows` then)."""
        column = self.obj.sync_column
        indexed = not rows and not fingerprint and bool(column) and self.session.indexed(column)
        sql = probe_sql(
            self.select([]), column, self.dialect, fingerprint=fingerprint, indexed=indexed
        )
        return self.session.fetch_small(sql).to_pylist()[0]

    def read(self, plan: WritePlan, new_state: SyncState, sql: str, hi) -> SyncBatch:
        """A batch that streams `sql` and writes it as `plan` says, committing `new_state`."""
        reader = self.session.stream(sql, self.obj.batch_size)
        return SyncBatch(self.obj.object_id, plan, new_state, reader, watermark=hi, source_sql=sql)

    def skip(self, reason: str) -> SyncBatch:
        """A batch that writes nothing."""
        return SyncBatch(
            self.obj.object_id,
            WritePlan("append", window=self.target_window()),
            self.state,
            skip_reason=reason,
        )


Strategy = Callable[[Planner], SyncBatch]
