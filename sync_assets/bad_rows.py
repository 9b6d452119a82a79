"""Rows holding a value that cannot be carried exactly: refused, or quarantined.

A value no target type holds (a PostgreSQL `NaN` numeric, `infinity` timestamps) is found
while the source is read; a value this target's type cannot hold (NaN in a T-SQL FLOAT, a
year past 9999 in DATETIME2, a NUL character in PostgreSQL text) is found just before the
target takes the batch (`target_problems`). Either way a `Problem` names the column, the
rows (a mask) and why. With `on_bad_rows: fail` (the default) the sync fails naming the
object's column, the value and an example key, and nothing is written. With
`on_bad_rows: quarantine` those rows go to a rejects file (JSON Lines, one row per line
with the column, the reason, the key and every value as text), published only when the
target commits, and the rest is applied; `sync/rows_rejected` counts them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.types import is_uuid, uuid_text


class BadValueError(ValueError):
    """A value that cannot be carried exactly into the target (on_bad_rows: fail)."""


@dataclass(frozen=True)
class Problem:
    """Rows of a batch (`mask`) whose value in `column` cannot be carried; `value(row)` spells
    the value, `why` says what cannot hold it, `fix` what the user can do."""

    column: str
    mask: pa.BooleanArray
    value: Callable[[int], str]
    why: str
    fix: str


@dataclass(frozen=True)
class Limits:
    """What a target's types cannot hold (everything else Arrow holds, they do)."""

    target: str  # as the messages name it, e.g. "SQL Server"
    special_floats: bool = True  # NaN and ±Infinity in floating-point columns
    nul_in_text: bool = True  # U+0000 in text
    years: tuple[int, int] | None = None  # the years dates and timestamps may have
    nanoseconds: bool = True  # timestamps and times finer than a microsecond
    # text columns of the existing table with a declared length: column -> (length, its SQL
    # type, how the engine counts it: "characters", "utf16" units or "bytes")
    lengths: dict = field(default_factory=dict)


def first_key(batch: pa.RecordBatch, row: int, keys: list[str] | None = None) -> str:
    """Which row, by its key columns (else the first column, the key in most tables)."""
    names = [k for k in keys or [] if k in batch.schema.names] or batch.schema.names[:1]
    spelled = ", ".join(f"{n} = {batch.column(n)[row].as_py()!r}" for n in names)
    return f"the row with {spelled}"


def message(batch: pa.RecordBatch, problem: Problem, keys: list[str] | None = None) -> str:
    row = pc.index(problem.mask, True).as_py()
    return (
        f"column '{problem.column}' holds {problem.value(row)} ({first_key(batch, row, keys)}), "
        f"which {problem.why}; {problem.fix}"
    )


def target_problems(batch: pa.RecordBatch, limits: Limits) -> list[Problem]:
    """The values of a batch the target cannot hold, column by column."""
    problems = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        for check in _CHECKS:
            problem = check(name, column, limits)
            if problem is not None and problem.mask.true_count:
                problems.append(problem)
    return problems


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _special_floats(name, column, limits: Limits) -> Problem | None:
    if limits.special_floats or not pa.types.is_floating(column.type):
        return None
    return Problem(
        name,
        pc.fill_null(pc.invert(pc.is_finite(column)), False),
        lambda r: repr(column[r].as_py()).replace("nan", "NaN"),
        f"{limits.target} floating-point columns cannot hold",
        "filter it out or map it in column_mappings (e.g. NULLIF on it)",
    )


def _nul_in_text(name, column, limits: Limits) -> Problem | None:
    if limits.nul_in_text or not _is_text(column.type) or not _any_nul(column):
        return None
    return Problem(
        name,
        pc.fill_null(pc.match_substring(column, "\x00"), False),
        lambda r: f"a NUL character in {column[r].as_py()!r}",
        f"{limits.target} text cannot hold",
        "strip it in column_mappings (e.g. replace(col, chr(0), ''))",
    )


def _any_nul(column: pa.Array) -> bool:
    """Whether the column's character data holds a zero byte at all: one memchr over the
    buffer (a tenth of the per-value search); the exact rows are found only then."""
    data = column.buffers()[2]
    return data is not None and data.to_pybytes().find(b"\x00") != -1


def _nanoseconds(name, column, limits: Limits) -> Problem | None:
    kind = column.type
    temporal = pa.types.is_timestamp(kind) or pa.types.is_time(kind)
    if limits.nanoseconds or not temporal or kind.unit != "ns":
        return None
    ticks = column.cast(pa.int64())  # a remainder below one microsecond
    remainder = pc.subtract(ticks, pc.multiply(pc.divide(ticks, 1000), 1000))
    return Problem(
        name,
        pc.fill_null(pc.not_equal(remainder, 0), False),
        lambda r: pc.cast(column.slice(r, 1), pa.string())[0].as_py(),
        f"{limits.target} timestamps and times (microseconds) cannot hold",
        "round it in column_mappings (e.g. date_trunc('microsecond', col))",
    )


def _declared_length(name, column, limits: Limits) -> Problem | None:
    if name not in limits.lengths or not _is_text(column.type):
        return None
    return _too_long(name, column, *limits.lengths[name], limits.target)


def _years(name, column, limits: Limits) -> Problem | None:
    kind = column.type
    if not limits.years or not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return None
    low, high = limits.years
    years = pc.year(column)
    return Problem(
        name,
        pc.fill_null(pc.or_(pc.less(years, low), pc.greater(years, high)), False),
        lambda r: f"a value in the year {years[r].as_py()}",
        f"{limits.target} dates and timestamps hold the years {low}-{high} only",
        "filter it out or map it in column_mappings",
    )


_CHECKS = (_special_floats, _nul_in_text, _nanoseconds, _declared_length, _years)


def text_length(column: pa.Array, measure: str) -> pa.Array:
    """Each value's length as an engine counts it (UTF-16 units: an emoji is two)."""
    if measure == "bytes":
        return pc.binary_length(column)
    chars = pc.utf8_length(column)
    if measure == "utf16":
        return pc.add(chars, pc.count_substring_regex(column, r"[\x{10000}-\x{10FFFF}]"))
    return chars


def _too_long(name, column, limit: int, declared: str, measure: str, target: str) -> Problem:
    lengths = text_length(column, measure)
    mask = pc.fill_null(pc.greater(lengths, limit), False)
    return Problem(
        name,
        mask,
        lambda r: f"a text of length {lengths[r].as_py()} ({column[r].as_py()[:40]!r}…)",
        f"the {target} column's {declared} cannot hold",
        f"shorten it in column_mappings (e.g. left(col, {limit})) or widen the column",
    )


class BadRows:
    """One sync's policy for bad rows, and the rejects file it fills under quarantine."""

    def __init__(self, object_id: str, policy: str, keys: list[str], folder: Path | None):
        self.object_id, self.policy, self.keys = object_id, policy, keys
        self.folder = folder
        self.rejected = 0
        self.error: BadValueError | None = None  # the refusal, once raised
        self.path: Path | None = None  # the published rejects file
        self._pending: Path | None = None
        self._out = None

    def handle(
        self, batch: pa.RecordBatch, problems: list[Problem], error=BadValueError
    ) -> pa.RecordBatch:
        """The batch without its bad rows (quarantine), or `error` naming the first one."""
        if not problems:
            return batch
        if self.policy != "quarantine":
            raise error(message(batch, problems[0], self.keys))
        bad = problems[0].mask
        for p in problems[1:]:
            bad = pc.or_(bad, p.mask)
        self._write(batch, bad, problems)
        return batch.filter(pc.invert(bad))

    def _write(self, batch, bad, problems) -> None:
        if self._out is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            self._pending = self.folder / f".{stamp}-{uuid.uuid4().hex[:8]}.jsonl.partial"
            self._out = self._pending.open("w", encoding="utf-8")
        indices = pc.indices_nonzero(bad)
        rows = _row_texts(batch.take(indices))
        for row, values in zip(indices.to_pylist(), rows, strict=True):
            hit = next(p for p in problems if p.mask[row].as_py())
            record = {
                "object_id": self.object_id,
                "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
                "column": hit.column,
                "reason": f"holds {hit.value(row)}, which {hit.why}",
                "key": first_key(batch, row, self.keys).removeprefix("the row with "),
                "row": values,
            }
            self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.rejected += 1

    def publish(self) -> None:
        """The target committed: the rejects file becomes visible."""
        if self._out is None:
            return
        self._out.close()
        self.path = self._pending.with_name(self._pending.name[1:].removesuffix(".partial"))
        os.replace(self._pending, self.path)
        self._out = None

    def discard(self) -> None:
        """The write failed: its rejects are dropped with it (a rerun finds them again)."""
        if self._out is not None:
            self._out.close()
            self._pending.unlink(missing_ok=True)
            self._out = None
            self.rejected = 0


def _row_texts(rows: pa.RecordBatch) -> list[dict]:
    """Rows as JSON objects: numbers, booleans and text as they are, binary as hex, nested
    values as JSON text, everything else as Arrow's text for it (a year past 9999 has no
    Python datetime)."""
    columns = {
        name: _texts(column) for name, column in zip(rows.schema.names, rows.columns, strict=True)
    }
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def _texts(column: pa.Array) -> list:
    kind = column.type
    if is_uuid(kind):
        return uuid_text(column).to_pylist()
    if isinstance(kind, pa.BaseExtensionType):
        column, kind = column.storage, column.storage.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind):
        return column.to_pylist()
    if pa.types.is_floating(kind):
        return [v if v is None or math.isfinite(v) else str(v) for v in column.to_pylist()]
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return [v if v is None else v.hex() for v in column.to_pylist()]
    if pa.types.is_nested(kind):
        return [v if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
    return pc.cast(column, pa.string()).to_pylist()


def guarded(reader: pa.RecordBatchReader, bad_rows: BadRows, limits: Limits | None):
    """The stream with the target's limits applied to every batch."""
    if limits is None:
        return reader

    def batches():
        for batch in reader:
            try:
                yield bad_rows.handle(batch, target_problems(batch, limits))
            except BadValueError as exc:  # noted: a driver reading the stream wraps it
                bad_rows.error = exc
                raise

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
