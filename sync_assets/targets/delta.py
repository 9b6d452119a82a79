"""Delta tables as a target (local path now; the Fabric lakehouse builds on it).

Every write is one Delta commit (overwrite, predicate overwrite, append or merge) and the
object's sync state rides in that commit's metadata, so data and state move together.
"""

from __future__ import annotations

import json
from contextlib import nullcontext

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError

from sync_assets import delta_read, delta_write, duck
from sync_assets.bad_rows import Limits
from sync_assets.blob_lease import lease_lock, on_azure
from sync_assets.columns import DELETED_AT_COLUMN
from sync_assets.config.models import DeltaConnection, FabricLakehouseConnection
from sync_assets.delta_prune import with_key_range
from sync_assets.faults import crashpoint
from sync_assets.lakehouse import delta_location
from sync_assets.locks import beside, file_lock
from sync_assets.paths import is_url
from sync_assets.sql.flavors import DELTA
from sync_assets.sql.literals import quote_ident
from sync_assets.sql.statements import differs, key_match
from sync_assets.streams import closing
from sync_assets.targets import merge_counts as counts
from sync_assets.targets.base import (
    DELETED_FLAG,
    SOFT_DELETE_COLUMN,
    Target,
    TargetWindow,
    WritePlan,
    WriteResult,
    window_predicate,
    with_soft_delete,
)
from sync_assets.types import cast_reader, delta_type, evolve

STATE_KEY = "sync_assets.state."
# how many recent commits to look through for our state before reading the whole history
_RECENT = 50


class DeltaTarget(Target):
    kind = "deltalake"
    dialect = "delta"

    def __init__(
        self,
        conn: DeltaConnection | FabricLakehouseConnection,
        base_dir: str,
        object_id: str,
        schema,
        table,
    ):
        self.object_id = object_id
        self.conn = conn
        self.location, self.storage_options = delta_location(conn, base_dir, schema, table)
        self.zorder_by: list[str] = []  # set by the IO manager from the object

    @property
    def uri(self) -> str:
        return self.location if is_url(self.location) else f"file://{self.location}"

    def _writer(self) -> WriterProperties:
        """Parquet settings of every file this target writes (connection field `files`)."""
        files = self.conn.files
        return WriterProperties(
            compression=files.compression.upper(),
            compression_level=files.compression_level,
            max_row_group_size=files.row_group_size,
        )

    def _table(self) -> DeltaTable | None:
        try:
            return delta_read.open_table(self.location, self.storage_options)
        except TableNotFoundError:
            return None

    # ------------------------------------------------------------------ state

    def writer_lock(self):
        """A file lock beside a local table; a blob lease under a table on Azure storage
        (ADLS Gen2, OneLake: blob_lease.py); elsewhere (S3, GCS) only delta-rs' optimistic
        commit, which lets two blind appends through (see the README)."""
        path = beside(self.location, "sync-lock")
        if path:
            return file_lock(path, self.object_id)
        if on_azure(self.location):
            return lease_lock(self.location, self.storage_options or {}, self.object_id)
        return nullcontext()

    def read_state(self) -> dict | None:
        table = self._table()
        if table is None:
            return None
        key = STATE_KEY + self.object_id
        for limit in (_RECENT, None):
            for commit in table.history(limit):
                if key in commit:
                    return json.loads(commit[key])
        return None

    # ------------------------------------------------------------------ write

    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        table = self._table()
        reader = with_soft_delete(reader, plan)
        flag = reader.schema.field(DELETED_FLAG) if DELETED_FLAG in reader.schema.names else None
        incoming = pa.schema(
            [pa.field(f.name, delta_type(f.type)) for f in reader.schema if f.name != DELETED_FLAG]
        )
        added = []
        if table is not None:
            delta_write.check_writable(table, self.location)
            existing = pa.schema(table.schema())
            incoming, added = evolve(existing, incoming, f"Delta table {self.location}")
            if added and delta_read.column_mapped(table):
                raise delta_read.DeltaFeatureError(
                    f"Delta table {self.location} uses column mapping, and delta-rs cannot add "
                    f"columns to such tables; add {[f.name for f in added]} in Fabric or Spark "
                    f"(ALTER TABLE … ADD COLUMNS) and rerun; nothing was written"
                )
        else:
            properties = dict(self.conn.table_properties)
            if isinstance(self.conn, FabricLakehouseConnection):  # read by Spark there
                delta_write.check_spark_names(incoming, properties, self.location)
            delta_write.check_creatable(incoming, properties, self.location)
        if plan.dry_run:
            stream = cast_reader(reader, incoming.append(flag) if flag else incoming)
            return self._dry_run(table, stream, plan, added)
        commit = CommitProperties(
            custom_metadata={STATE_KEY + self.object_id: json.dumps(state, default=str)}
        )
        try:
            result = self._commit(table, reader, incoming, flag, plan, commit, bool(added))
        except Exception as exc:
            clear = table is not None and delta_write.constraint_error(exc, table, self.location)
            if clear:
                raise clear from None
            raise
        result.row_count = self._count(plan.window)
        written = self._table()
        result.schema, result.sql_types = pa.schema(written.schema()), delta_types(written)
        if result.committed and (
            result.rows_inserted or result.rows_updated or result.rows_deleted
        ):
            crashpoint("maintenance")
            result.extra.update(self.maintain())
        return result

    def _commit(self, table, reader, incoming, flag, plan: WritePlan, commit, added: bool):
        """The one Delta commit of a write: changes, overwrite/append, or merge."""
        if plan.mode == "merge" and plan.deletes:
            return self._apply_changes(
                table, cast_reader(reader, incoming.append(flag)), plan, commit, added
            )
        if table is None or plan.mode != "merge":
            return self._write(
                table, cast_reader(_without(reader, DELETED_FLAG), incoming), plan, commit
            )
        return self._merge(table, cast_reader(reader, incoming), plan, commit, added)

    def maintain(self) -> dict:
        """Optional compaction / z-order and vacuum after a write (metadata keys sync/delta_*).
        The data is committed already: a maintenance failure is reported, not raised."""
        rules, done = self.conn.maintenance, {}
        if not rules.optimize and rules.vacuum_retention_hours is None:
            return done
        try:
            table = self._table()  # operations below advance this object's version in place
            if rules.optimize and delta_read.column_mapped(table):
                done["sync/delta_optimize"] = (
                    "skipped: delta-rs cannot OPTIMIZE column-mapped tables; run OPTIMIZE "
                    "in Fabric or Spark"
                )
            elif rules.optimize:
                if self.zorder_by:
                    metrics = table.optimize.z_order(
                        self.zorder_by, writer_properties=self._writer()
                    )
                else:
                    metrics = table.optimize.compact(writer_properties=self._writer())
                done["sync/delta_optimize"] = (
                    f"{metrics['numFilesRemoved']} files -> {metrics['numFilesAdded']}"
                )
            if rules.vacuum_retention_hours is not None:
                removed = table.vacuum(
                    retention_hours=rules.vacuum_retention_hours,
                    dry_run=False,
                    enforce_retention_duration=False,
                )
                done["sync/delta_vacuum_files_removed"] = len(removed)
        except Exception as exc:  # noqa: BLE001 - reported in the metadata
            done["sync/delta_maintenance_error"] = f"{type(exc).__name__}: {exc}"
        return done

    def _predicate(
        self, window: TargetWindow | None, schema: pa.Schema, alias: str = ""
    ) -> str | None:
        if window is None:
            return None
        bounds = window.bounds(schema.field(window.column).type)
        text = bounds.predicate("delta")
        col = quote_ident(window.column)
        return text.replace(col, f"{alias}.{col}") if alias else text

    def _write(self, table, reader, plan: WritePlan, commit) -> WriteResult:
        before = self._count(plan.window) if table is not None and plan.mode == "replace" else 0
        mode = "overwrite" if plan.mode == "replace" else "append"
        predicate = self._predicate(plan.window, reader.schema) if mode == "overwrite" else None
        counter = _Counter(reader)
        write_deltalake(
            self.location,
            counter.reader(),
            mode=mode,
            predicate=predicate,
            # delta-rs refuses schema_mode on column-mapped tables even with nothing to add
            schema_mode="merge"
            if table is not None and not delta_read.column_mapped(table)
            else None,
            configuration=dict(self.conn.table_properties) or None if table is None else None,
            storage_options=self.storage_options,
            commit_properties=commit,
            writer_properties=self._writer(),
            target_file_size=self.conn.files.target_file_size,
        )
        return WriteResult(rows_inserted=counter.rows, rows_deleted=before)

    def _merge(
        self, table: DeltaTable, reader, plan: WritePlan, commit, new_columns: bool
    ) -> WriteResult:
        if plan.delete_missing and plan.soft_delete:
            return self._merge_marking_missing(table, reader, plan, commit, new_columns)
        bounds = None
        if not plan.delete_missing:  # rows outside the incoming key range play no part
            reader, bounds = with_key_range(reader, plan.merge_keys)
        merger = self._upsert(table, reader, plan, commit, new_columns, bounds)
        if plan.delete_missing:
            merger = merger.when_not_matched_by_source_delete(
                predicate=self._predicate(plan.window, reader.schema, alias="t")
            )
        metrics = merger.execute()
        return WriteResult(
            rows_inserted=metrics["num_target_rows_inserted"],
            rows_updated=metrics["num_target_rows_updated"],
            rows_deleted=metrics["num_target_rows_deleted"],
            extra=_file_metrics(metrics),
        )

    def _upsert(
        self, table: DeltaTable, source, plan: WritePlan, commit, new_columns: bool, bounds=None
    ):
        """A MERGE that updates changed rows (when the plan updates) and inserts new keys;
        `bounds` (delta_prune) narrows the target rows it looks at."""
        keys = plan.merge_keys
        others = [f.name for f in source.schema if f.name not in keys]
        on = key_match(keys, "t", "s", DELTA) + (f" AND {bounds}" if bounds else "")
        merger = self._merger(table, source, on, commit, new_columns)
        if plan.update and others:
            known = set(pa.schema(table.schema()).names)
            merger = merger.when_matched_update_all(
                predicate=differs("t", "s", others, DELTA, known=known)
            )
        return merger.when_not_matched_insert_all()

    def _merge_marking_missing(
        self, table: DeltaTable, reader, plan: WritePlan, commit, new_columns: bool
    ) -> WriteResult:
        """A whole-source merge with soft deletes: rows of the window missing from the source
        are marked `_is_deleted` / `_deleted_at` in the same commit. They are counted first
        (the merge reports them among its updates), so the source is staged in DuckDB, which
        spills to disk: memory stays bounded."""
        keys, known = plan.merge_keys, set(pa.schema(table.schema()).names)
        soft = quote_ident(SOFT_DELETE_COLUMN)
        live = f"{soft} IS NOT TRUE" if SOFT_DELETE_COLUMN in known else "TRUE"
        con = duck.connect()
        try:
            con.register("incoming", reader)
            con.execute("CREATE TEMP TABLE s AS SELECT * FROM incoming").fetchall()
            con.register("t", delta_read.scannable(table, self.location))
            window = window_predicate(plan.window, reader.schema, "duckdb", self.location)
            alive = counts.alive(known, True)
            marked = counts.missing(
                con, "s", "t", keys, f"{window} AND {alive}" if window else alive
            )
            staged = con.sql("SELECT * FROM s").to_arrow_reader(65_536)
            merger = self._upsert(table, staged, plan, commit, new_columns)
            scope = self._predicate(plan.window, reader.schema, alias="t")
            target_live = live.replace(soft, f"t.{soft}")
            merger = merger.when_not_matched_by_source_update(
                updates={SOFT_DELETE_COLUMN: "true", DELETED_AT_COLUMN: "now()"},
                predicate=f"{scope} AND {target_live}" if scope else target_live,
            )
            metrics = merger.execute()
        finally:
            con.close()
        return WriteResult(
            rows_inserted=metrics["num_target_rows_inserted"],
            rows_updated=metrics["num_target_rows_updated"] - marked,
            rows_deleted=marked,
        )

    def _dry_run(self, table: DeltaTable | None, reader, plan: WritePlan, added) -> WriteResult:
        """What the write would do, counted by DuckDB against the table as it is; no commit."""
        ddl = [f"create Delta table {self.location}"] if table is None else []
        ddl += [f"add column {f.name} {delta_type(f.type)} to {self.location}" for f in added]
        flagged = DELETED_FLAG in reader.schema.names
        con = duck.connect()
        try:
            con.register("incoming", reader)
            con.execute("CREATE TEMP TABLE s AS SELECT * FROM incoming").fetchall()
            written = counts.live("s", flagged)
            if table is None or plan.mode != "merge":
                replaced = table is not None and plan.mode == "replace"
                return WriteResult(
                    rows_inserted=counts.count_rows(con, written),
                    rows_deleted=self._count(plan.window) if replaced else 0,
                    committed=False,
                    ddl=ddl,
                )
            con.register("t", delta_read.scannable(table, self.location))
            keys, known = list(plan.merge_keys), set(pa.schema(table.schema()).names)
            others = [
                f.name for f in reader.schema if f.name not in keys and f.name != DELETED_FLAG
            ]
            inserted, updated = counts.upserts(
                con, written, "t", keys, others, known, update=plan.update
            )
            condition = counts.alive(known, plan.soft_delete)
            deleted = 0
            if flagged:
                deleted = counts.flagged_deletes(con, "s", "t", keys, condition)
            elif plan.delete_missing:
                window = window_predicate(plan.window, reader.schema, "duckdb", self.location)
                deleted = counts.missing(
                    con, "s", "t", keys, f"{window} AND {condition}" if window else condition
                )
        finally:
            con.close()
        return WriteResult(inserted, updated, deleted, committed=False, ddl=ddl)

    def _merger(self, table: DeltaTable, source, on: str, commit, new_columns: bool):
        """A MERGE of `source` (alias s) into the table (alias t) on `on`, as one commit."""
        return table.merge(
            source,
            predicate=on,
            source_alias="s",
            target_alias="t",
            merge_schema=new_columns,
            commit_properties=commit,
            writer_properties=self._writer(),
        )

    def _apply_changes(
        self, table, reader, plan: WritePlan, commit, new_columns: bool
    ) -> WriteResult:
        """A change stream: flagged keys are deleted (or marked `_is_deleted`), other rows
        upserted, in one MERGE commit. Change streams are staged in DuckDB (spilling to disk)
        so the deletes can be counted apart from the updates."""
        if table is None:  # nothing to delete from yet: the live rows are the table
            live = _without(_filtered(reader, DELETED_FLAG), DELETED_FLAG)
            return self._write(None, live, WritePlan("append"), commit)
        con = duck.connect()
        try:
            con.register("incoming", reader)
            con.execute("CREATE TEMP TABLE s AS SELECT * FROM incoming").fetchall()
            keys, flag = plan.merge_keys, quote_ident(DELETED_FLAG)
            columns = [f.name for f in reader.schema if f.name != DELETED_FLAG]
            others = [c for c in columns if c not in keys]
            known = set(pa.schema(table.schema()).names)
            on = key_match(keys, "t", "s", DELTA)
            soft = quote_ident(SOFT_DELETE_COLUMN)
            mark_only = (
                f" AND t.{soft} IS NOT TRUE"
                if plan.soft_delete and SOFT_DELETE_COLUMN in known
                else ""
            )
            con.register("t", delta_read.scannable(table, self.location))
            deleted = counts.flagged_deletes(
                con, "s", "t", keys, counts.alive(known, plan.soft_delete)
            )
            staged = con.sql("SELECT * FROM s").to_arrow_reader(65_536)
            staged, bounds = with_key_range(staged, keys)  # no clause about other rows
            merger = self._merger(
                table, staged, f"{on} AND {bounds}" if bounds else on, commit, new_columns
            )
            if plan.soft_delete:
                merger = merger.when_matched_update(
                    updates={SOFT_DELETE_COLUMN: "true", DELETED_AT_COLUMN: "now()"},
                    predicate=f"s.{flag}{mark_only}",
                )
            else:
                merger = merger.when_matched_delete(predicate=f"s.{flag}")
            if others:
                changed = differs("t", "s", others, DELTA, known=known)
                merger = merger.when_matched_update(
                    updates={c: f"s.{quote_ident(c)}" for c in others},
                    predicate=f"NOT s.{flag} AND {changed}",
                )
            merger = merger.when_not_matched_insert(
                updates={c: f"s.{quote_ident(c)}" for c in columns}, predicate=f"NOT s.{flag}"
            )
            metrics = merger.execute()
        finally:
            con.close()
        touched = metrics["num_target_rows_updated"] + metrics["num_target_rows_deleted"]
        return WriteResult(
            rows_inserted=metrics["num_target_rows_inserted"],
            rows_updated=touched - deleted,
            rows_deleted=deleted,
            extra=_file_metrics(metrics),
        )

    # ------------------------------------------------------------------ reading

    def count_rows(self, window: TargetWindow | None = None) -> int | None:
        if self._table() is None:
            return None
        return self._count(window)

    def _count(self, window: TargetWindow | None) -> int:
        table = self._table()
        if table is None:
            return 0
        if window is None:
            return delta_read.count_rows(table, self.location)
        pred = window_predicate(window, pa.schema(table.schema()), "duckdb", self.location)
        con = duck.connect()
        try:
            con.register("t", delta_read.scannable(table, self.location))
            return con.execute(f"SELECT count(*) FROM t WHERE {pred}").fetchone()[0]
        finally:
            con.close()

    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        table = delta_read.open_table(self.location, self.storage_options)
        if window is None:
            return delta_read.reader(table, self.location, list(columns) if columns else None)
        con = duck.connect()
        con.register("t", delta_read.scannable(table, self.location))
        pred = window_predicate(window, pa.schema(table.schema()), "duckdb", self.location)
        listed = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        reader = con.sql(f"SELECT {listed} FROM t WHERE {pred}").to_arrow_reader(100_000)

        return closing(reader, con.close)

    def value_limits(self) -> Limits:
        return Limits("Delta", nanoseconds=False)  # TIMESTAMP and TIMESTAMP_NTZ are microseconds

    def describe(self) -> dict:
        table = self._table()
        if table is None:
            return {"row_count": None, "schema": None}
        return {
            "row_count": delta_read.count_rows(table, self.location),
            "schema": pa.schema(table.schema()),
            "sql_types": delta_types(table),
        }


def _file_metrics(metrics: dict) -> dict:
    """What a MERGE read and rewrote, file by file (the cost of a small change)."""
    names = {
        "num_target_files_scanned": "sync/delta_files_scanned",
        "num_target_files_skipped_during_scan": "sync/delta_files_skipped",
        "num_target_files_removed": "sync/delta_files_rewritten",
    }
    return {ours: int(metrics[theirs]) for theirs, ours in names.items() if theirs in metrics}


def delta_types(table: DeltaTable) -> dict[str, str]:
    """Each column's Delta type as Spark SQL spells it: DECIMAL(12,2), TIMESTAMP, ARRAY<BIGINT>…"""
    return {f.name: _spark_type(f.type) for f in table.schema().fields}


def _spark_type(t) -> str:
    if hasattr(t, "element_type"):
        return f"ARRAY<{_spark_type(t.element_type)}>"
    if hasattr(t, "key_type"):
        return f"MAP<{_spark_type(t.key_type)}, {_spark_type(t.value_type)}>"
    if hasattr(t, "fields"):
        return "STRUCT<" + ", ".join(f"{f.name}: {_spark_type(f.type)}" for f in t.fields) + ">"
    return {"long": "BIGINT", "integer": "INT", "short": "SMALLINT", "byte": "TINYINT"}.get(
        t.type, t.type.upper()
    )


def _without(reader: pa.RecordBatchReader, column: str) -> pa.RecordBatchReader:
    """The stream without `column` (a change stream's delete flag), if it has it."""
    if column not in reader.schema.names:
        return reader
    index = reader.schema.get_field_index(column)
    return pa.RecordBatchReader.from_batches(
        reader.schema.remove(index), (b.drop_columns([column]) for b in reader)
    )


def _filtered(reader: pa.RecordBatchReader, flag: str) -> pa.RecordBatchReader:
    """The rows of a change stream whose delete flag is false."""
    return pa.RecordBatchReader.from_batches(
        reader.schema, (b.filter(pc.invert(b.column(flag))) for b in reader)
    )


class _Counter:
    """Counts rows as a stream is consumed (Delta writes report no row count)."""

    def __init__(self, reader: pa.RecordBatchReader):
        self._reader, self.rows = reader, 0

    def _batches(self):
        for batch in self._reader:
            self.rows += batch.num_rows
            yield batch

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self._reader.schema, self._batches())
