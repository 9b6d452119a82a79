"""The write path shared by SQL targets (DuckDB, PostgreSQL).

One transaction holds everything: DDL (create / add columns), staging the stream, the
set-based apply and the state upsert. A crash before COMMIT leaves the table as it was.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from contextlib import AbstractContextManager

import pyarrow as pa

from sync_assets.faults import crashpoint
from sync_assets.sql import apply
from sync_assets.sql.literals import qualified
from sync_assets.targets.base import (
    DELETED_FLAG, SOFT_DELETE_COLUMN, Target, WritePlan, WriteResult, window_predicate, with_soft_delete,
)
from sync_assets.types import evolve


class SqlSession:
    """Engine operations a SqlTarget needs, on one connection inside one transaction."""

    def execute(self, sql: str) -> int:
        """Run a statement; return the number of rows it affected (or -1)."""
        raise NotImplementedError

    def scalar(self, sql: str):
        raise NotImplementedError

    def rows(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        """The Arrow schema of a table, or None if it does not exist."""
        raise NotImplementedError

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """SQL type of each column, as the engine spells it."""
        raise NotImplementedError

    def stage(self, reader: pa.RecordBatchReader, *, materialize: bool) -> str:
        """Make the stream queryable as a relation; return its name."""
        raise NotImplementedError

    def loads_directly(self, incoming: pa.Schema, types: dict[str, str], schema: str, table: str) -> bool:
        """Whether `load` can write this stream straight into the table, whose column types
        (`column_types`) are `types` (default: never)."""
        return False

    def load(self, reader: pa.RecordBatchReader, schema: str, table: str) -> int:
        """Append the stream to the table as it is (no casts); return the rows written."""
        raise NotImplementedError

    def clear(self, table_sql: str, window_predicate: str | None) -> int:
        """Remove the rows a replace owns; return how many there were."""
        return self.execute(apply.delete_window_sql(table_sql, window_predicate))

    def commit(self) -> None:
        raise NotImplementedError


class SqlTarget(Target):
    """A table in a SQL database, written in one transaction with its sync state."""

    default_schema: str

    def __init__(self, object_id: str, schema: str | None, table: str):
        self.object_id = object_id
        self.schema = schema or self.default_schema
        self.table = table
        self.table_sql = qualified(self.schema, table)

    @abstractmethod
    def session(self) -> AbstractContextManager[SqlSession]:
        """A connection with an open transaction, rolled back unless committed."""

    @abstractmethod
    def type_of(self, arrow_type: pa.DataType) -> str:
        """The engine's column type for an Arrow type."""

    def prepare_reader(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """Engine-specific conversion of the stream before staging (default: none)."""
        return reader

    # ------------------------------------------------------------------ state

    @property
    def state_name(self) -> str:
        return f"{self.schema}.{self.table}"

    def read_state(self) -> dict | None:
        with self.session() as s:
            # a dropped (or re-pointed) table starts over: its old watermark must not apply
            if s.table_schema(self.schema, self.table) is None:
                return None
            if s.table_schema(apply.STATE_SCHEMA, apply.STATE_TABLE) is None:
                return None
            text = s.scalar(apply.state_select_sql(self.object_id, self.state_name))
            return json.loads(text) if text else None

    # ------------------------------------------------------------------ write

    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        reader = with_soft_delete(self.prepare_reader(reader), plan)
        with self.session() as s:
            columns = [f.name for f in reader.schema if f.name != DELETED_FLAG]
            schema = self._ensure_table(s, pa.schema([reader.schema.field(c) for c in columns]))
            types = s.column_types(self.schema, self.table)
            window = window_predicate(plan.window, schema, self.dialect, self.table_sql)
            if plan.mode != "merge" and s.loads_directly(reader.schema, types, self.schema, self.table):
                result = self._load(s, plan, reader, window)
            else:
                staged = s.stage(reader, materialize=plan.mode == "merge")
                crashpoint("staged")
                result = self._apply(s, plan, staged, columns, types, window)
            result.row_count = s.scalar(apply.count_sql(self.table_sql, window))
            result.schema = s.table_schema(self.schema, self.table)
            for sql in apply.state_ddl(self.dialect):
                s.execute(sql)
            s.execute(apply.state_upsert_sql(self.object_id, self.state_name, json.dumps(state, default=str)))
            crashpoint("before_commit")
            s.commit()
        return result

    def _ensure_table(self, s: SqlSession, incoming: pa.Schema) -> pa.Schema:
        existing = s.table_schema(self.schema, self.table)
        if existing is None:
            s.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(self.schema)}")
            s.execute(apply.create_table_sql(self.table_sql, incoming, self.type_of))
            return incoming
        _, added = evolve(existing, incoming, f"{self.kind} table {self.schema}.{self.table}")
        for field in added:
            s.execute(apply.add_column_sql(self.table_sql, field, self.type_of))
        return pa.schema(list(existing) + added)

    def _load(self, s, plan: WritePlan, reader: pa.RecordBatchReader, window) -> WriteResult:
        """Replace / append without staging: the stream goes straight into the table."""
        deleted = s.clear(self.table_sql, window) if plan.mode == "replace" else 0
        inserted = s.load(reader, self.schema, self.table)
        crashpoint("staged")
        return WriteResult(rows_inserted=inserted, rows_deleted=deleted)

    def _apply(self, s, plan: WritePlan, staged, columns, types, window) -> WriteResult:
        table = self.table_sql
        if plan.mode == "append":
            return WriteResult(rows_inserted=s.execute(apply.insert_sql(table, staged, columns, types)))
        if plan.mode == "replace":
            deleted = s.clear(table, window)
            inserted = s.execute(apply.insert_sql(table, staged, columns, types))
            return WriteResult(rows_inserted=inserted, rows_deleted=deleted)
        return self._merge(s, plan, staged, columns, types, window)

    def _merge(self, s, plan: WritePlan, staged, columns, types, window) -> WriteResult:
        table, keys = self.table_sql, list(plan.merge_keys)
        dupes = s.rows(apply.duplicate_keys_sql(staged, keys))
        if dupes:
            raise ValueError(
                f"merge_keys {keys} are not unique in the source rows of this run "
                f"(e.g. {dupes[0][:-1]} appears {dupes[0][-1]} times)"
            )
        deleted = 0
        if plan.deletes:  # a change stream: flagged keys go first, the rest is upserted
            soft = SOFT_DELETE_COLUMN if plan.soft_delete else None
            deleted = s.execute(apply.flagged_deletes_sql(table, staged, keys, DELETED_FLAG, soft))
            staged = apply.not_flagged(staged, DELETED_FLAG)
        if plan.delete_missing:
            deleted = s.execute(apply.delete_missing_sql(table, staged, keys, window))
        s.execute(apply.changed_rows_sql(table, staged, columns, keys, types, update=plan.update, temp=apply.CHANGED))
        updated = s.execute(apply.delete_replaced_sql(table, apply.CHANGED, keys, self.dialect))
        written = s.execute(apply.insert_sql(table, apply.CHANGED, columns, types))
        return WriteResult(rows_inserted=written - updated, rows_updated=updated, rows_deleted=deleted)

    # ------------------------------------------------------------------ reading

    def count_rows(self, window=None) -> int | None:
        with self.session() as s:
            schema = s.table_schema(self.schema, self.table)
            if schema is None:
                return None
            pred = window_predicate(window, schema, self.dialect, self.table_sql)
            return s.scalar(apply.count_sql(self.table_sql, pred))

    def describe(self) -> dict:
        with self.session() as s:
            schema = s.table_schema(self.schema, self.table)
            if schema is None:
                return {"row_count": None, "schema": None}
            return {"row_count": s.scalar(apply.count_sql(self.table_sql)), "schema": schema}
