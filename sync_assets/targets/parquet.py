"""Parquet folders as a target, written through DuckDB and committed by manifest rename.

Files are grouped by partition key (one folder per Dagster partition), so replacing a
partition swaps exactly its files. A merge rewrites the partitions it touches (the whole
table when unpartitioned): Parquet files are immutable, the partition is the unit of change.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from sync_assets import duck
from sync_assets.columns import DELETED_AT_COLUMN
from sync_assets.config.models import ParquetConnection
from sync_assets.faults import crashpoint
from sync_assets.locks import beside, file_lock
from sync_assets.parquet_table import ParquetTable
from sync_assets.paths import join, resolve
from sync_assets.sql.flavors import DUCKDB
from sync_assets.sql.literals import quote_ident, quote_string
from sync_assets.sql.statements import key_match
from sync_assets.state import WHOLE
from sync_assets.streams import closing
from sync_assets.targets import merge_counts as counts
from sync_assets.targets.base import (
    DELETED_FLAG,
    SOFT_DELETE_COLUMN,
    Target,
    TargetWindow,
    WritePlan,
    WriteResult,
    with_soft_delete,
)
from sync_assets.types import cast_reader, evolve, parquet_type

INCOMING = "__sync_incoming"


def partition_key_sql(column: str, arrow_type: pa.DataType, window: TargetWindow) -> str:
    """DuckDB expression giving the Dagster partition key of a row (session TimeZone = window's)."""
    col = quote_ident(column)
    if window.step is not None:  # "<lo>-<hi>" of the integer range holding the value
        lo = f"({window.origin} + ({col} - {window.origin}) // {window.step} * {window.step})"
        return f"CAST({lo} AS VARCHAR) || '-' || CAST({lo} + {window.step - 1} AS VARCHAR)"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        ts = f"strptime({col}, {quote_string(window.fmt or '%Y-%m-%d')})"
    else:
        ts = f"CAST({col} AS TIMESTAMP)"
    if window.granularity == "hourly":
        return f"strftime(date_trunc('hour', {ts}), '%Y-%m-%d-%H:%M')"
    if window.granularity == "monthly":
        return f"strftime(date_trunc('month', {ts}), '%Y-%m-%d')"
    if window.granularity == "weekly":  # Dagster weeks start on Sunday; dayofweek(Sunday) = 0
        return f"strftime(date_trunc('day', {ts}) - to_days(CAST(dayofweek({ts}) AS INTEGER)), '%Y-%m-%d')"
    return f"strftime({ts}, '%Y-%m-%d')"


class ParquetTarget(Target):
    kind = "parquet"
    dialect = "duckdb"

    def __init__(self, conn: ParquetConnection, base_dir: str, object_id: str, schema, table):
        self.conn = conn
        self.object_id = object_id
        self.table = ParquetTable(join(resolve(base_dir, conn.root), schema, table))

    def writer_lock(self):
        """A file lock beside the table's folder (local roots)."""
        path = beside(str(self.table.location), "sync-lock")
        return file_lock(path, self.object_id) if path else nullcontext()

    @property
    def uri(self) -> str:
        return f"file://{self.table.location}"

    def read_state(self) -> dict | None:
        return self.table.load()["state"].get(self.object_id)

    # ------------------------------------------------------------------ write

    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        self.table.collect_garbage()  # leftovers of a crashed write
        reader = with_soft_delete(reader, plan)
        flag = reader.schema.field(DELETED_FLAG) if DELETED_FLAG in reader.schema.names else None
        manifest = self.table.load()
        existing = self.table.schema(manifest)
        incoming = pa.schema(
            [
                pa.field(f.name, parquet_type(f.type))
                for f in reader.schema
                if f.name != DELETED_FLAG
            ]
        )
        if existing is not None:
            incoming, added = evolve(existing, incoming, f"Parquet table {self.table.location}")
            schema = pa.schema(list(existing) + added)
        else:
            schema = incoming
        txn = uuid.uuid4().hex[:12]
        existed = self.table.location.exists()
        staging = self.table.location / "_staging" / txn
        staging.mkdir(parents=True, exist_ok=True)
        con = duck.connect(timezone=plan.window.timezone if plan.window else "UTC")
        try:
            # a change stream keeps its delete flag beside the table's columns
            con.register(INCOMING, cast_reader(reader, incoming.append(flag) if flag else incoming))
            writer = _Rewrite(
                con, self, manifest, schema, plan, staging, txn, flagged=flag is not None
            )
            result = writer.run()
        finally:
            con.close()
        if plan.dry_run:  # the new files stay in staging and are removed: nothing changes
            result.committed = False
            if existing is None:
                result.ddl = [f"create Parquet table {self.table.location}"]
            if not existed:
                shutil.rmtree(self.table.location, ignore_errors=True)
                return result
        if not result.committed:
            self.table.collect_garbage()
            return result
        crashpoint("files_written")
        manifest["partitions"].update(writer.new_partitions)
        manifest["state"][self.object_id] = state
        manifest = self.table.commit(manifest, schema)
        self.table.collect_garbage()
        keys = plan.window.keys if plan.window else None
        result.row_count = self.table.row_count(manifest, keys)
        result.schema = schema
        return result

    # ------------------------------------------------------------------ reading

    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        files = [
            str(self.table.location / f["path"])
            for f in self.table.files(keys=window.keys if window else None)
        ]
        schema = self.table.schema()
        if columns:
            schema = pa.schema([schema.field(c) for c in columns])
        if not files:
            return pa.RecordBatchReader.from_batches(schema, [])
        con = duck.connect()
        listed = ", ".join(quote_string(f) for f in files)
        wanted = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        reader = con.sql(
            f"SELECT {wanted} FROM read_parquet([{listed}], union_by_name = true)"
        ).to_arrow_reader(100_000)

        return closing(reader, con.close)

    def count_rows(self, window: TargetWindow | None = None) -> int | None:
        if not self.table.exists():
            return None
        return self.table.row_count(keys=window.keys if window else None)

    def describe(self) -> dict:
        if not self.table.exists():
            return {"row_count": None, "schema": None}
        return {
            "row_count": self.table.row_count(),
            "schema": self.table.schema(),
            "sql_types": self.table.logical_types(),
        }


class _Rewrite:
    """One write: decide the affected partitions, write their new files into staging."""

    def __init__(
        self,
        con,
        target: ParquetTarget,
        manifest,
        schema,
        plan: WritePlan,
        staging: Path,
        txn,
        flagged: bool = False,
    ):
        self.con, self.target, self.manifest, self.schema = con, target, manifest, schema
        self.plan, self.staging, self.txn = plan, staging, txn
        self.table = target.table
        self.new_partitions: dict[str, list[dict]] = {}
        self.known_columns: set[str] = set()  # columns the files being rewritten have
        # the incoming rows without a change stream's delete flag
        self.rows = (
            f"SELECT * EXCLUDE ({quote_ident(DELETED_FLAG)}) FROM {INCOMING}"
            if flagged
            else f"SELECT * FROM {INCOMING}"
        )

    def _key_sql(self) -> str:
        if not self.plan.window:
            return quote_string(WHOLE)
        column = self.plan.window.column
        return partition_key_sql(column, self.schema.field(column).type, self.plan.window)

    def _old(self, keys) -> str | None:
        files = [
            str(self.table.location / f["path"]) for f in self.table.files(self.manifest, keys)
        ]
        if not files:
            return None
        listed = ", ".join(quote_string(f) for f in files)
        return f"read_parquet([{listed}], union_by_name = true)"

    def run(self) -> WriteResult:
        if self.plan.mode == "merge":
            return self._merge()
        window_keys = self.plan.window.keys if self.plan.window else (WHOLE,)
        if self.plan.mode == "replace":
            deleted = self.table.row_count(self.manifest, window_keys)
            written = self._write(self.rows, keep_empty=window_keys)
            return WriteResult(rows_inserted=written, rows_deleted=deleted)
        written = self._write(self.rows, append=True)
        return WriteResult(rows_inserted=written, committed=written > 0 or self.plan.state_only)

    def _merge(self) -> WriteResult:
        if self.plan.deletes:
            return self._apply_changes()
        staged = self.staging / "incoming.parquet"
        self._copy(f"SELECT *, {self._key_sql()} AS __pk FROM {INCOMING}", str(staged))
        src = f"read_parquet({quote_string(str(staged))})"
        keys = list(self.plan.merge_keys)
        window_keys = self.plan.window.keys if self.plan.window else (WHOLE,)
        affected = {r[0] for r in self.con.execute(f"SELECT DISTINCT __pk FROM {src}").fetchall()}
        if self.plan.delete_missing:
            affected |= set(window_keys)
        affected |= self._partitions_holding(src, keys)
        old = self._old(sorted(affected))
        if old:  # files written before a column was added lack it
            self.known_columns = {
                r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {old}").fetchall()
            }
        match = key_match(keys, "o", "s", DUCKDB)
        not_in_src = f"NOT EXISTS (SELECT 1 FROM {src} AS s WHERE {match})"
        in_window = f"{self._key_sql()} IN ({', '.join(quote_string(k) for k in window_keys)})"
        live = counts.alive(self.known_columns, self.plan.soft_delete)
        missing = f"{not_in_src} AND {in_window} AND {live}"
        changes = self._merge_counts(src, old, keys, in_window)
        if not any(changes.values()):
            return WriteResult(committed=False)
        new_rows = f"SELECT * EXCLUDE (__pk) FROM {src}"
        if old and self.plan.update:
            # old rows survive unless merged again, or missing from a whole-source window
            # (where soft deletes keep them, marked)
            kept = not_in_src + (
                f" AND NOT ({in_window} AND {live})" if self.plan.delete_missing else ""
            )
            new_rows = f"SELECT * FROM {old} AS o WHERE {kept} UNION ALL BY NAME {new_rows}"
            if self.plan.delete_missing and self.plan.soft_delete:
                new_rows += f" UNION ALL BY NAME {self._marked(old, missing)}"
        elif old:  # insert-only: existing keys keep their row
            new_rows = (
                f"SELECT * FROM {old} UNION ALL BY NAME {new_rows} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {old} AS o WHERE {match})"
            )
        self._write(new_rows, keep_empty=sorted(affected))
        return WriteResult(
            rows_inserted=changes["inserted"],
            rows_updated=changes["updated"],
            rows_deleted=changes["deleted"],
        )

    def _apply_changes(self) -> WriteResult:
        """A change stream (unpartitioned): flagged keys are deleted (or marked), the other
        rows replace their key's row. The table's files are rewritten once."""
        staged = self.staging / "incoming.parquet"
        self._copy(f"SELECT * FROM {INCOMING}", str(staged))
        src = f"read_parquet({quote_string(str(staged))})"
        flag = quote_ident(DELETED_FLAG)
        live, dead = (
            f"(SELECT * FROM {src} WHERE NOT {flag})",
            f"(SELECT * FROM {src} WHERE {flag})",
        )
        keys = list(self.plan.merge_keys)
        match = key_match(keys, "o", "s", DUCKDB)
        old = self._old([WHOLE])
        new_live = f"SELECT * EXCLUDE ({flag}) FROM {live}"
        if not old:
            inserted = self.con.execute(f"SELECT count(*) FROM {live}").fetchone()[0]
            self._write(new_live, keep_empty=[WHOLE])
            return WriteResult(rows_inserted=inserted, committed=inserted > 0)
        self.known_columns = {
            r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {old}").fetchall()
        }
        others = [f.name for f in self.schema if f.name not in keys]
        inserted, updated = counts.upserts(
            self.con, live, old, keys, others, self.known_columns, update=True
        )
        condition = counts.alive(self.known_columns, self.plan.soft_delete)
        deleted = counts.flagged_deletes(self.con, src, old, keys, condition)
        if not (inserted or updated or deleted):
            return WriteResult(committed=False)
        rows = f"SELECT * FROM {old} AS o WHERE NOT EXISTS (SELECT 1 FROM {src} AS s WHERE {match}) UNION ALL BY NAME {new_live}"
        if self.plan.soft_delete:
            flagged = (
                f"EXISTS (SELECT 1 FROM {dead} AS s WHERE {match}) "
                f"AND NOT EXISTS (SELECT 1 FROM {live} AS s WHERE {match})"
            )
            unmarked = counts.alive(self.known_columns, True)
            marked = self._marked(old, f"{flagged} AND {unmarked}")
            # rows marked already keep their first stamp
            before = f"SELECT * FROM {old} AS o WHERE {flagged} AND NOT {unmarked}"
            rows = f"{rows} UNION ALL BY NAME {marked} UNION ALL BY NAME {before}"
        self._write(rows, keep_empty=[WHOLE])
        return WriteResult(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted)

    def _marked(self, old: str, where: str) -> str:
        """Old rows matching `where` (alias o), marked soft-deleted now, their values kept."""
        present = [c for c in (SOFT_DELETE_COLUMN, DELETED_AT_COLUMN) if c in self.known_columns]
        exclude = f" EXCLUDE ({', '.join(quote_ident(c) for c in present)})" if present else ""
        return (
            f"SELECT *{exclude}, TRUE AS {quote_ident(SOFT_DELETE_COLUMN)}, "
            f"current_timestamp AS {quote_ident(DELETED_AT_COLUMN)} FROM {old} AS o WHERE {where}"
        )

    def _partitions_holding(self, src: str, keys) -> set[str]:
        """Partitions whose files hold a key being merged (a row may move between partitions)."""
        if not self.plan.window or not self.manifest["partitions"]:
            return set()
        by_path = {
            str(self.table.location / f["path"]): k
            for k, fs in self.manifest["partitions"].items()
            for f in fs
        }
        if not by_path:
            return set()
        listed = ", ".join(quote_string(p) for p in by_path)
        match = key_match(keys, "o", "s", DUCKDB)
        sql = (
            f"SELECT DISTINCT o.filename FROM read_parquet([{listed}], union_by_name = true, filename = true) AS o "
            f"WHERE EXISTS (SELECT 1 FROM {src} AS s WHERE {match})"
        )
        return {by_path[r[0]] for r in self.con.execute(sql).fetchall()}

    def _merge_counts(self, src, old, keys, in_window: str) -> dict:
        if not old:
            return {"inserted": counts.count_rows(self.con, src), "updated": 0, "deleted": 0}
        others = [f.name for f in self.schema if f.name not in keys]
        inserted, updated = counts.upserts(
            self.con, src, old, keys, others, self.known_columns, update=self.plan.update
        )
        deleted = 0
        if self.plan.delete_missing:
            condition = f"{in_window} AND {counts.alive(self.known_columns, self.plan.soft_delete)}"
            deleted = counts.missing(self.con, src, old, keys, condition)
        return {"inserted": inserted, "updated": updated, "deleted": deleted}

    def _copy(self, select: str, dest: str, partitioned: bool = False) -> None:
        c = self.target.conn
        options = [
            "FORMAT parquet",
            f"COMPRESSION {c.compression}",
            f"ROW_GROUP_SIZE {c.row_group_size}",
        ]
        if c.compression_level is not None:
            options.append(f"COMPRESSION_LEVEL {c.compression_level}")
        if partitioned:
            options += ["PARTITION_BY (__pk)", "OVERWRITE_OR_IGNORE"]
        self.con.execute(f"COPY ({select}) TO {quote_string(dest)} ({', '.join(options)})")

    def _write(self, select: str, *, append: bool = False, keep_empty=()) -> int:
        """Write `select` split by partition key; record the new file lists; return rows."""
        out = self.staging / "out"
        if self.plan.window:
            self._copy(
                f"SELECT *, {self._key_sql()} AS __pk FROM ({select})", str(out), partitioned=True
            )
            produced = {
                unquote(d.name.split("=", 1)[1]): sorted(d.glob("*.parquet"))
                for d in out.glob("__pk=*")
            }
        else:
            out.mkdir(parents=True, exist_ok=True)
            self._copy(select, str(out / "part.parquet"))
            produced = {WHOLE: [out / "part.parquet"]}
        written = 0
        for key in set(produced) | set(keep_empty):
            entries = self._place(key, produced.get(key, []))
            written += sum(e["rows"] for e in entries)
            previous = self.manifest["partitions"].get(key, []) if append else []
            self.new_partitions[key] = previous + entries
        return written

    def _place(self, key: str, files: list[Path]) -> list[dict]:
        """Move staged files of one partition into data/ under unique names."""
        folder = self.table.location / "data" / (key.replace(":", "") or "all")
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for i, src in enumerate(files):
            rows = pq.read_metadata(src).num_rows
            if rows == 0 and key != WHOLE:
                continue
            dest = folder / f"part-{self.txn}-{i}.parquet"
            os.replace(src, dest)
            entries.append({"path": str(dest.relative_to(self.table.location)), "rows": rows})
        return entries
