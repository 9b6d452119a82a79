"""The change data feed of Delta tables with column mapping, read from the log.

deltalake's `load_cdf` refuses column-mapped tables ("Column mapping is not supported for read
operation 'CHANGE DATA FEED scans' yet"), which Fabric writes for any column name with a space.
This reads the same stream as `load_cdf`, by the protocol's rules for change data readers
(PROTOCOL.md, "Reader Requirements for AddCDCFile"):
- a commit with `cdc` actions: its changes are the rows of those `_change_data/` files, with
  their `_change_type`;
- a commit without them: rows of added files are inserts, rows of removed files deletes
  (`dataChange: true` only); a file re-added with a new deletion vector deletes the rows the
  new vector adds to the old one; rows an add's own vector removes are not inserts.
Files store physical column names; they are mapped to the current logical names (column
mapping keeps physical names stable across renames), missing columns read as NULL. One
data file is in memory at a time: memory is bounded by file size, not table size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHANGE_COLUMNS = [
    pa.field("_change_type", pa.string()),
    pa.field("_commit_version", pa.int64()),
    pa.field("_commit_timestamp", pa.timestamp("us", "UTC")),
]


class ChangesGone(RuntimeError):
    """A commit or file of the requested range is no longer there (log cleanup, vacuum)."""


def read_changes(table, storage_options, start: int, end: int) -> pa.RecordBatchReader:
    """The changes of versions start..end (inclusive) of a column-mapped table."""
    import pyarrow.fs as pa_fs
    from deltalake.fs import DeltaStorageHandler

    fs = pa_fs.PyFileSystem(DeltaStorageHandler(table.table_uri, storage_options))
    logical = pa.schema(table.schema().to_arrow())
    physical = {
        f.metadata.get("delta.columnMapping.physicalName", f.name): f.name
        for f in table.schema().fields
    }
    commits = [_commit(fs, v) for v in range(start, end + 1)]  # all present, or none read
    _check_files(fs, commits)
    schema = pa.schema(list(logical) + CHANGE_COLUMNS)
    batches = _changes(fs, commits, logical, physical, schema)
    return pa.RecordBatchReader.from_batches(schema, batches)


def _commit(fs, version: int) -> tuple[int, list[dict]]:
    path = f"_delta_log/{version:020d}.json"
    try:
        with fs.open_input_stream(path) as f:
            text = f.read().decode()
    except FileNotFoundError as exc:
        raise ChangesGone(f"commit {version} ({path}) is gone") from exc
    return version, [json.loads(line) for line in text.splitlines() if line.strip()]


def _check_files(fs, commits) -> None:
    """Every file the range reads is still there (vacuum removes them): checked before the
    first row is returned, so a gone range becomes a full reload, never half a stream."""
    from urllib.parse import unquote

    import pyarrow.fs as pa_fs

    paths = {
        unquote(action[kind]["path"])
        for _, actions in commits
        for action in actions
        for kind in ("add", "remove", "cdc")
        if kind in action
    }
    for info in fs.get_file_info(sorted(paths)):
        if info.type == pa_fs.FileType.NotFound:
            raise ChangesGone(f"data file {info.path} is gone (vacuumed)")


def _changes(fs, commits, logical, physical, schema) -> Iterator[pa.RecordBatch]:
    for version, actions in commits:
        stamp = _timestamp(actions)
        for rows, kind in _commit_rows(fs, actions, logical, physical):
            if rows.num_rows == 0:
                continue
            n = rows.num_rows
            if kind is not None:
                rows = rows.append_column("_change_type", pa.array([kind] * n, pa.string()))
            rows = rows.append_column("_commit_version", pa.array([version] * n, pa.int64()))
            rows = rows.append_column(
                "_commit_timestamp", pa.array([stamp] * n, pa.timestamp("us", "UTC"))
            )
            yield from rows.select(schema.names).cast(schema).to_batches()


def _timestamp(actions: list[dict]) -> dt.datetime:
    info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    millis = info.get("inCommitTimestamp", info.get("timestamp", 0))
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC)


def _commit_rows(fs, actions, logical, physical):
    """(rows with logical names, change type or None when the file carries `_change_type`)."""
    cdc = [a["cdc"] for a in actions if "cdc" in a]
    if cdc:
        for action in cdc:
            rows = _read(fs, action, logical, physical, keep=("_change_type",))
            yield rows, None
        return
    removes = {a["remove"]["path"]: a["remove"] for a in actions if "remove" in a}
    for add in (a["add"] for a in actions if "add" in a):
        if not add.get("dataChange", True):
            continue
        old = removes.pop(add["path"], None)
        if old is not None:  # same file, new deletion vector: its new rows are deleted
            gone = _deleted(fs, add) - _deleted(fs, old)
            yield _rows_at(_read(fs, add, logical, physical), gone), "delete"
        else:
            yield _without(_read(fs, add, logical, physical), _deleted(fs, add)), "insert"
    for remove in removes.values():
        if remove.get("dataChange", True):
            rows = _read(fs, remove, logical, physical)
            yield _without(rows, _deleted(fs, remove)), "delete"


def _read(fs, action: dict, logical: pa.Schema, physical: dict, keep=()) -> pa.Table:
    """A data or change file's rows under logical names; partition columns, which files do
    not store, from the action's partitionValues (keyed by physical name)."""
    from urllib.parse import unquote

    path = action["path"]
    try:
        data = pq.read_table(unquote(path), filesystem=fs)
    except FileNotFoundError as exc:
        raise ChangesGone(f"data file {path} is gone (vacuumed)") from exc
    by_name = {physical.get(n, n): data.column(n) for n in data.column_names}
    for key, value in (action.get("partitionValues") or {}).items():
        name = physical.get(key, key)
        if name in logical.names and name not in by_name:
            kind = logical.field(name).type
            by_name[name] = _partition_column(value, kind, data.num_rows)
    columns = [by_name.get(f.name, pa.nulls(data.num_rows, f.type)).cast(f.type) for f in logical]
    table = pa.Table.from_arrays(columns, schema=logical)
    for name in keep:
        table = table.append_column(name, data.column(name))
    return table


def _partition_column(value: str | None, kind: pa.DataType, rows: int) -> pa.Array:
    """A partition value (the protocol's string serialization) repeated for a file's rows.
    Timestamps without an offset are UTC (PROTOCOL.md, "Partition Value Serialization")."""
    text = pa.array([value] * rows, pa.string())
    if pa.types.is_timestamp(kind) and kind.tz and value and not value.endswith("Z"):
        return text.cast(pa.timestamp(kind.unit)).cast(kind)
    return text.cast(kind)


def _deleted(fs, action: dict) -> set[int]:
    """The row indexes an add/remove action's deletion vector removes (empty without one)."""
    from sync_assets.delta_dv import deleted_rows

    descriptor = action.get("deletionVector")
    return deleted_rows(fs, descriptor) if descriptor else set()


def _without(rows: pa.Table, deleted: set[int]) -> pa.Table:
    if not deleted:
        return rows
    positions = pa.array(range(rows.num_rows), pa.int64())
    hit = pc.is_in(positions, value_set=pa.array(sorted(deleted), pa.int64()))
    return rows.filter(pc.invert(hit))


def _rows_at(rows: pa.Table, indexes: set[int]) -> pa.Table:
    return rows.take(pa.array(sorted(indexes), pa.int64()))
