"""The contract every target implements: read its sync state, apply a write plan atomically.

A target commits the rows and the object's new sync state in one atomic step (one SQL
transaction, one Delta commit, one manifest rename), so after a crash at any point the
target is either before or after the write.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from sync_assets.columns import DELETED_AT_COLUMN, DELETED_FLAG, SOFT_DELETE_COLUMN
from sync_assets.sql.select import Bounds, window_bounds
from sync_assets.streams import with_soft_delete_columns
from sync_assets.types import SchemaChangeError

WriteMode = Literal["replace", "append", "merge"]


@dataclass(frozen=True)
class TargetWindow:
    """The slice of the target a partitioned write owns: lo <= column < hi."""

    column: str
    start: dt.datetime  # integers for integer-range partitions
    end: dt.datetime
    keys: tuple[str, ...]
    granularity: str | None  # None: integer ranges of `step` from `origin`
    fmt: str | None = None
    timezone: str = "UTC"
    step: int | None = None
    origin: int = 0

    def bounds(self, arrow_type: pa.DataType) -> Bounds:
        return window_bounds(self.column, arrow_type, self.start, self.end, self.fmt)


def target_window(obj, start, end, keys: tuple[str, ...]) -> TargetWindow:
    """The target slice of `obj`'s partitions `keys`, which cover [start, end)."""
    part = obj.partition
    return TargetWindow(
        column=obj.target_column_for(part.column),
        start=start,
        end=end,
        keys=keys,
        granularity=part.granularity,
        fmt=part.format,
        timezone=part.timezone,
        step=part.step,
        origin=part.start if part.is_range else 0,
    )


@dataclass(frozen=True)
class WritePlan:
    """How incoming rows change the target."""

    mode: WriteMode
    merge_keys: tuple[str, ...] = ()
    update: bool = True  # merge: update matched rows (False: insert new keys only)
    delete_missing: bool = False  # merge: delete target rows (in the window) not in the input
    window: TargetWindow | None = None
    # merge of a change stream: rows flagged in DELETED_FLAG delete their key
    deletes: bool = False
    # deletes (flagged keys, or with delete_missing the keys missing from the source) mark the
    # row in SOFT_DELETE_COLUMN and DELETED_AT_COLUMN and keep its last values; a key that
    # comes back is live again
    soft_delete: bool = False
    # plan and count, write nothing: the target and its state stay as they are
    dry_run: bool = False
    # commit the state even when no row is written (`sync-assets reset`)
    state_only: bool = False
    # the object's stored state as the run read it when planning (Target.seen_state); a SQL
    # target refuses to commit if another run committed since. None: not checked
    state_seen: str | None = None


def with_soft_delete(reader: pa.RecordBatchReader, plan: WritePlan) -> pa.RecordBatchReader:
    """A stream written with soft deletes gains SOFT_DELETE_COLUMN (a copy of a change
    stream's delete flag, else false) and DELETED_AT_COLUMN (NULL): written rows are live;
    flagged rows only mark their key."""
    if not plan.soft_delete or SOFT_DELETE_COLUMN in reader.schema.names:
        return reader
    flag = DELETED_FLAG if DELETED_FLAG in reader.schema.names else None
    return with_soft_delete_columns(reader, flag, SOFT_DELETE_COLUMN, DELETED_AT_COLUMN)


def window_predicate(
    window: TargetWindow | None, schema: pa.Schema, dialect: str, table: str
) -> str | None:
    """The SQL predicate of a partition window on a table of `schema` (None: no window),
    typed by the table's own column."""
    if window is None:
        return None
    if window.column not in schema.names:
        raise SchemaChangeError(f"partition column '{window.column}' is missing from {table}")
    return window.bounds(schema.field(window.column).type).predicate(dialect)


@dataclass
class WriteResult:
    """What a write did, for metadata."""

    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    row_count: int | None = None  # rows in the table, or in the window for partitioned writes
    schema: pa.Schema | None = None
    sql_types: dict[str, str] | None = (
        None  # the target's own type of each column, where it has one
    )
    committed: bool = True
    # statements that create or change the target table (run, or in a dry run: would run)
    ddl: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Target(ABC):
    """One target table of one sync object."""

    kind: str
    dialect: str
    # what read_state() found stored, as an opaque token ("" for none); SQL targets set it
    # and check at commit that it has not moved (see SqlTarget.write)
    seen_state: str | None = None

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where the table is, without secrets."""

    @abstractmethod
    def read_state(self) -> dict | None:
        """The object's sync state committed with the data, or None before the first sync."""

    @abstractmethod
    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        """Apply `reader`'s rows as `plan` says and commit `state` in the same atomic step."""

    @abstractmethod
    def read(
        self, window: TargetWindow | None = None, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader:
        """Stream the table (or one window of it) as Arrow batches; only `columns` if given."""

    @abstractmethod
    def count_rows(self, window: TargetWindow | None = None) -> int | None:
        """Rows in the table (or in one window of it); None if the table does not exist."""

    def arrow_schema(self) -> pa.Schema | None:
        """The table's Arrow schema (None if it does not exist); targets whose describe()
        counts rows answer this from their catalog alone."""
        return self.describe()["schema"]

    def writer_lock(self) -> AbstractContextManager:
        """Held by a run from reading the stored state to its commit, so two runs of the
        object from separate processes or instances never interleave (locks.py). Default:
        none beyond the engine's own transaction."""
        return nullcontext()

    def value_limits(self):
        """What this target's types cannot hold (a bad_rows.Limits), None: every Arrow value."""
        return None

    @abstractmethod
    def describe(self) -> dict:
        """Row count and Arrow schema of the table as it is now (None, None if missing)."""
