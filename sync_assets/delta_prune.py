"""Key ranges for Delta merges, so delta-rs skips the files a change cannot touch.

A MERGE on `t.id = s.id` makes delta-rs scan every file of the target to find the matches.
Adding `t.id >= <min> AND t.id <= <max>` (the range of the incoming keys) to the predicate
lets it skip, by their min/max statistics, every file outside that range: for updates of
recent rows (the common hourly change) that is all but the newest files. Measured on a 1M-row
table of 10 files with the newest 15k rows changed: the merge took 0.25 s plain, 0.08 s with
the range.

The range is only sound where rows outside it play no part: a merge whose clauses are all
about matched rows or new source rows (never `when_not_matched_by_source`). It is taken from
the incoming batches, which are held to see their keys; past `MAX_HELD_ROWS` the stream goes
on without a range (a change that big touches most files anyway, and delta-rs holds the
source of a merge in memory itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sync_assets.sql.literals import quote_ident, quote_string

MAX_HELD_ROWS = 1_000_000


def _literal(value, t: pa.DataType) -> str | None:
    """A DataFusion SQL literal for a key bound, or None for a type not ranged here."""
    if pa.types.is_integer(t):
        return str(int(value))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return quote_string(value)
    if pa.types.is_date32(t):
        return f"CAST({quote_string(value.isoformat())} AS DATE)"
    return None


def _rangeable(schema: pa.Schema, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if _literal_type(schema.field(k).type)]


def _literal_type(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date32(t)
    )


def with_key_range(
    reader: pa.RecordBatchReader, keys: Sequence[str], alias: str = "t"
) -> tuple[pa.RecordBatchReader, str | None]:
    """(the same rows as a reader, a predicate bounding `alias`'s keys to their range), or
    no predicate when the stream is too big to hold, holds no keys, or its keys are of a
    type not ranged here."""
    ranged = _rangeable(reader.schema, keys)
    if not ranged:
        return reader, None
    held, rows = [], 0
    batches = iter(reader)
    for batch in batches:
        held.append(batch)
        rows += batch.num_rows
        if rows > MAX_HELD_ROWS:
            return _chained(reader.schema, held, batches), None
    bounds = []
    for key in ranged:
        t = reader.schema.field(key).type
        found = [pc.min_max(b.column(key)) for b in held if b.num_rows]
        lows = [f["min"].as_py() for f in found if f["min"].is_valid]
        highs = [f["max"].as_py() for f in found if f["max"].is_valid]
        if not lows:
            continue  # no key at all: nothing can match, delta-rs finds that quickly
        col = f"{alias}.{quote_ident(key)}"
        bounds.append(f"{col} >= {_literal(min(lows), t)} AND {col} <= {_literal(max(highs), t)}")
    table = pa.RecordBatchReader.from_batches(reader.schema, held)
    return table, " AND ".join(bounds) or None


def _chained(schema: pa.Schema, held: list, rest: Iterator) -> pa.RecordBatchReader:
    def batches():
        yield from held
        yield from rest

    return pa.RecordBatchReader.from_batches(schema, batches())
