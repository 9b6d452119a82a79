"""The one SQL writer: every SQL target (DuckDB, PostgreSQL, the T-SQL flavors through ODBC,
Snowflake) writes through `SqlTarget.write`, with statements from `sql/statements.py`.

One write:
1. DDL: the state table, then create the target table or add the columns it lacks;
2. stage the stream (each engine's own bulk load: DuckDB registers the Arrow stream, PostgreSQL
   binary-COPYs it, ODBC binds parameter arrays or runs COPY INTO, Snowflake PUTs Parquet and
   runs COPY INTO), or, for replace / append where the engine can, load it straight into the
   table;
3. apply it set-based (slice replace, insert, MERGE or delete + insert, flagged deletes) and
   upsert the object's state, in one transaction, then COMMIT.

Engines whose flavor allows DDL in a transaction (DuckDB, PostgreSQL, SQL Server) run it all
in one transaction; the others (Synapse, Fabric Warehouse, Snowflake) run the DDL and the
staging first in autocommit. Either way the target table only changes at COMMIT, so a crash at
any point leaves it before or after the write.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from contextlib import AbstractContextManager, contextmanager

import pyarrow as pa

from sync_assets.faults import crashpoint
from sync_assets.locks import state_moved, wait_for
from sync_assets.sql import statements as sql
from sync_assets.sql.flavors import Flavor
from sync_assets.targets.base import (
    DELETED_FLAG,
    Target,
    TargetWindow,
    WritePlan,
    WriteResult,
    window_predicate,
    with_soft_delete,
)
from sync_assets.types import evolve


def _stored(s: SqlSession, flavor: Flavor, object_id: str) -> str:
    """The object's stored state texts as one token ("" when there are none or only the
    empty claim rows of state_claim_sql)."""
    texts = {row[0] for row in s.rows(sql.state_rows_sql(flavor), object_id) if row[0]}
    return "\n".join(sorted(texts))


class SqlSession:
    """What the writer needs of one connection to an engine (subclassed per engine)."""

    def execute(self, statement: str, *binds) -> int:
        """Run a statement (binds for `?` markers); return the rows it affected (0 if unknown)."""
        raise NotImplementedError

    def rows(self, statement: str, *binds) -> list[tuple]:
        raise NotImplementedError

    def scalar(self, statement: str, *binds):
        found = self.rows(statement, *binds)
        return found[0][0] if found else None

    def begin(self) -> None:
        """Enter the data transaction (no-op when the session is in one already)."""

    def commit(self) -> None:
        raise NotImplementedError

    def table_schema(self, schema: str, table: str) -> pa.Schema | None:
        """The Arrow schema the table's columns read back as, or None if it does not exist."""
        raise NotImplementedError

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """Each column's SQL type, as the engine spells it."""
        raise NotImplementedError

    def stage(self, reader: pa.RecordBatchReader, table: pa.Schema, *, materialize: bool) -> str:
        """Bulk-load the stream where the apply can read it; return that relation. `table` is
        the target's schema; `materialize`: the relation is read more than once."""
        raise NotImplementedError

    def loads_directly(
        self, incoming: pa.Schema, types: dict[str, str], schema: str, table: str
    ) -> bool:
        """Whether `load` can write this stream straight into the table (default: never)."""
        return False

    def load(self, reader: pa.RecordBatchReader, schema: str, table: str) -> int:
        """Append the stream to the table as it is (no casts); return the rows written."""
        raise NotImplementedError

    def clear(self, table_sql: str, window: str | None) -> int:
        """Remove the rows a replace owns; return how many there were."""
        return self.execute(sql.delete_window_sql(table_sql, window))

    def cleanup(self) -> None:
        """Drop what staging left outside the session (called however the write ended)."""


class SqlTarget(Target):
    """A table in a SQL engine, written in one transaction with its sync state."""

    flavor: Flavor
    # the staged relation holds the target's column types (a staging table created from them);
    # False: it holds the stream's Arrow types and statements cast staged values
    typed_staging: bool = True

    def __init__(self, object_id: str, schema: str, table: str):
        self.object_id = object_id
        self.schema = schema
        self.table = table
        self.table_sql = sql.table_name(schema, table, self.flavor)

    @property
    def dialect(self) -> str:
        return self.flavor.dialect

    @abstractmethod
    def session(self, autocommit: bool = False) -> AbstractContextManager[SqlSession]:
        """A connection; unless `autocommit`, with an open transaction, rolled back unless committed."""

    @abstractmethod
    def column_type(self, field: pa.Field) -> str:
        """The SQL type of the column created for `field`."""

    def prepare(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """Engine-specific conversion of the stream before staging (default: none)."""
        return reader

    @abstractmethod
    def read(self, window: TargetWindow | None = None, columns=None) -> pa.RecordBatchReader:
        """Stream the table (or one window of it; only `columns` if given)."""

    def select_sql(self, schema: pa.Schema, window: TargetWindow | None, columns=None) -> str:
        pred = window_predicate(window, schema, self.dialect, self.table_sql)
        listed = ", ".join(sql.quote(c, self.flavor) for c in columns) if columns else "*"
        return f"SELECT {listed} FROM {self.table_sql}" + (f" WHERE {pred}" if pred else "")

    # ------------------------------------------------------------------ state

    @property
    def state_name(self) -> str:
        return f"{self.schema}.{self.table}"

    def read_state(self) -> dict | None:
        with self.session(autocommit=True) as s:
            if s.table_schema(sql.STATE_SCHEMA, sql.STATE_TABLE) is None:
                self.seen_state = ""
                return None
            self.seen_state = _stored(s, self.flavor, self.object_id)
            # a dropped (or re-pointed) table starts over: its old watermark must not apply
            if s.table_schema(self.schema, self.table) is None:
                return None
            text = s.scalar(sql.state_select_sql(self.flavor), self.object_id, self.state_name)
            return json.loads(text) if text else None

    @contextmanager
    def writer_lock(self):
        """The flavor's session lock on the table's name (PostgreSQL advisory lock, natively
        or through ODBC; sp_getapplock on SQL Server / Azure SQL), held on a connection of
        its own for the run; engines without one rely on their transaction (locks.py)."""
        statements = sql.writer_lock_sql(self.flavor)
        if statements is None:
            yield
            return
        take, release = statements
        name = sql.lock_resource(self.table_sql)
        kind = "an advisory lock" if self.flavor.session_lock == "advisory" else "sp_getapplock"
        with self.session(autocommit=True) as s:
            wait_for(
                lambda: bool(s.scalar(take, name)), self.object_id, f"{self.table_sql} ({kind})"
            )
            try:
                yield
            finally:
                s.execute(release, name)

    # ------------------------------------------------------------------ write

    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        reader = self.prepare(with_soft_delete(reader, plan))
        columns = [n for n in reader.schema.names if n != DELETED_FLAG]
        with self.session(autocommit=not self.flavor.ddl_in_transaction) as s:
            try:
                if not plan.dry_run:
                    if not self._shared_ddl(s):
                        for statement in sql.state_ddl(self.flavor):
                            s.execute(statement)
                    if plan.state_seen is not None:  # a row for the commit to lock
                        s.execute(sql.state_claim_sql(self.flavor), *self._claim_binds())
                ddl, schema, created = self._table_ddl(s, reader.schema)
                index, index_note = self._key_index(s, plan, created)
                ddl += index
                if plan.dry_run and ddl and not self.flavor.ddl_in_transaction:
                    # here DDL commits at once: a dry run reports it and does not run it
                    return _dry_run_before_ddl(reader, ddl, created, self.flavor.name)
                for statement in ddl:
                    s.execute(statement)
                result = self._apply_stream(s, plan, reader, schema, columns)
                result.ddl = ddl
                result.extra.update(index_note)
                if plan.dry_run:  # the session rolls everything back
                    result.committed = False
                    return result
                self._check_state_unmoved(s, plan.state_seen)
                delete, insert = sql.state_upsert_sql(self.flavor)
                s.execute(delete, self.object_id)
                s.execute(insert, self.object_id, self.state_name, json.dumps(state, default=str))
                crashpoint("before_commit")
                s.commit()
            finally:
                s.cleanup()
        return result

    def _shared_ddl(self, s: SqlSession) -> bool:
        """The state table and the target's schema, created first in a short transaction of
        their own under the flavor's lock (committed before the write's transaction starts,
        on the write's connection: a connection costs ~50 ms here), so concurrent writes of
        other objects never race to create them (a new table's `CREATE SCHEMA IF NOT
        EXISTS` then finds its schema). False when the flavor has no such lock: the write
        creates the state table itself."""
        lock = sql.shared_ddl_lock_sql(self.flavor)
        if lock is None or not self.flavor.ddl_in_transaction:
            return False
        s.begin()
        s.execute(lock)
        for statement in [
            *sql.state_ddl(self.flavor),
            sql.create_schema_sql(self.schema, self.flavor),
        ]:
            s.execute(statement)
        s.commit()
        return True

    def _claim_binds(self) -> tuple:
        return self.object_id, self.state_name, self.object_id

    def _check_state_unmoved(self, s: SqlSession, seen: str | None) -> None:
        """Lock the object's state rows (held to COMMIT, waiting for a transaction that holds
        them) and refuse to commit if they changed since this run read them: the one-writer
        guard on engines without an application lock (Snowflake, Synapse, Fabric Warehouse),
        and a second guard on the others."""
        if seen is None:
            return
        s.execute(sql.state_lock_sql(self.flavor), self.object_id)
        if _stored(s, self.flavor, self.object_id) != seen:
            raise state_moved(self.object_id, self.table_sql)

    def _apply_stream(
        self, s: SqlSession, plan: WritePlan, reader, schema: pa.Schema, columns
    ) -> WriteResult:
        """Load the stream (straight, or staged and applied) inside the data transaction."""
        window = window_predicate(plan.window, schema, self.dialect, self.table_sql)
        types = self.staged_casts(s)
        if plan.mode != "merge" and s.loads_directly(reader.schema, types, self.schema, self.table):
            s.begin()
            result = self._load(s, plan, reader, window)
        else:
            staged = s.stage(reader, schema, materialize=plan.mode == "merge")
            crashpoint("staged")
            s.begin()
            result = self._apply(s, plan, staged, columns, types, window)
        result.row_count = s.scalar(sql.count_sql(self.table_sql, window, self.flavor))
        result.schema = s.table_schema(self.schema, self.table)
        result.sql_types = s.column_types(self.schema, self.table) if self.typed_staging else types
        return result

    def declared_lengths(self, measures: dict[str, str]) -> dict:
        """Text columns of the existing table with a declared length, as bad_rows.Limits
        takes them: column -> (length, SQL type, how `measures` says the type counts)."""
        with self.session(autocommit=True) as s:
            if s.table_schema(self.schema, self.table) is None:
                return {}  # created by this run from the source's own lengths
            types = s.column_types(self.schema, self.table)
        lengths = {}
        for column, declared in types.items():
            found = _LENGTH.match(declared)
            if found and found.group(1).lower() in measures:
                lengths[column] = (int(found.group(2)), declared, measures[found.group(1).lower()])
        return lengths

    def staged_casts(self, s: SqlSession) -> dict[str, str] | None:
        """Column -> the SQL type staged values are cast to when applied (None: the staging
        table already has the target's types)."""
        return None if self.typed_staging else s.column_types(self.schema, self.table)

    def _table_ddl(self, s: SqlSession, incoming: pa.Schema) -> tuple[list[str], pa.Schema, bool]:
        """(statements that create the target or add the incoming columns it lacks, the
        target's schema after them, whether the table is created)."""
        incoming = pa.schema([f for f in incoming if f.name != DELETED_FLAG])
        existing = s.table_schema(self.schema, self.table)
        if existing is None:
            columns = [(f.name, self.column_type(f)) for f in incoming]
            create = sql.create_table_sql(self.table_sql, columns, self.flavor)
            return [sql.create_schema_sql(self.schema, self.flavor), create], incoming, True
        _, added = evolve(
            existing, incoming, f"{self.flavor.name} table {self.schema}.{self.table}"
        )
        ddl = [
            sql.add_column_sql(self.table_sql, f.name, self.column_type(f), self.flavor)
            for f in added
        ]
        return ddl, pa.schema(list(existing) + added), False

    def _key_index(self, s: SqlSession, plan: WritePlan, created: bool) -> tuple[list, dict]:
        """The statement creating the index on the merge keys, when the flavor has one and
        the table lacks it, and a note of it. An existing table whose keys repeat keeps
        going without (the note says so): its merges are ambiguous, but they were before."""
        keys = list(plan.merge_keys)
        statement = sql.key_index_sql(self.schema, self.table, keys, self.flavor)
        if statement is None or plan.mode != "merge" or not keys or plan.dry_run:
            return [], {}
        name = sql.key_index_name(self.table)
        if created:
            return [statement], {"sync/key_index": f"created {name} on {keys}"}
        if s.scalar(sql.key_index_exists_sql(self.flavor), self.schema, name):
            return [], {}
        dupes = s.rows(sql.duplicate_keys_sql(self.table_sql, keys, self.flavor))
        if dupes:
            example = tuple(dupes[0])[:-1]
            return [], {
                "sync/key_index": f"not created: {keys} repeat in the table (e.g. {example})"
            }
        return [statement], {"sync/key_index": f"created {name} on {keys}"}

    def _load(
        self, s: SqlSession, plan: WritePlan, reader: pa.RecordBatchReader, window
    ) -> WriteResult:
        """Replace / append without staging: the stream goes straight into the table."""
        deleted = s.clear(self.table_sql, window) if plan.mode == "replace" else 0
        inserted = s.load(reader, self.schema, self.table)
        crashpoint("staged")
        return WriteResult(rows_inserted=inserted, rows_deleted=deleted)

    def _apply(
        self, s: SqlSession, plan: WritePlan, staged: str, columns, casts, window
    ) -> WriteResult:
        if plan.mode == "merge":
            return self._merge(s, plan, staged, columns, casts, window)
        deleted = s.clear(self.table_sql, window) if plan.mode == "replace" else 0
        inserted = s.execute(
            sql.insert_select_sql(self.table_sql, staged, columns, self.flavor, casts)
        )
        return WriteResult(rows_inserted=inserted, rows_deleted=deleted)

    def _merge(
        self, s: SqlSession, plan: WritePlan, staged: str, columns, casts, window
    ) -> WriteResult:
        table, keys, f = self.table_sql, list(plan.merge_keys), self.flavor
        dupes = s.rows(sql.duplicate_keys_sql(staged, keys, f))
        if dupes:
            raise ValueError(
                f"merge_keys {keys} are not unique in the source rows of this run "
                f"(e.g. {tuple(dupes[0])[:-1]} appears {dupes[0][-1]} times)"
            )
        for statement in sql.plan_for_lookups_sql(staged, f):
            s.execute(statement)
        deleted = 0
        if plan.deletes:  # a change stream: flagged keys go first, the rest is upserted
            flagged = sql.soft_delete_flagged_sql if plan.soft_delete else sql.delete_flagged_sql
            deleted = s.execute(flagged(table, staged, keys, f))
        missing = sql.soft_delete_missing_sql if plan.soft_delete else sql.delete_missing_sql
        source = sql.upsert_source(staged, plan.deletes, f)
        if f.capture_changes:  # one join finds the rows to write; the apply reads only those
            s.execute(
                sql.capture_changes_sql(
                    sql.CHANGED, table, source, columns, keys, f, update=plan.update, casts=casts
                )
            )
            for statement in sql.plan_for_lookups_sql(sql.CHANGED, f)[1:]:
                s.execute(statement)
            counts = s.rows(sql.captured_counts_sql(sql.CHANGED))[0]
            source, casts = sql.CHANGED, None
        else:
            counts = s.rows(
                sql.merge_counts_sql(
                    table, source, columns, keys, f, update=plan.update, casts=casts
                )
            )[0]
        inserted, updated = (int(v) for v in counts)
        if f.has_merge:
            merged = s.execute(
                sql.merge_sql(
                    table,
                    source,
                    columns,
                    keys,
                    f,
                    update=plan.update,
                    delete_missing=plan.delete_missing,
                    window=window,
                    casts=casts,
                    soft_delete=plan.soft_delete,
                )
            )
            if plan.delete_missing and f.merge_by_source:
                deleted += merged - inserted - updated
            elif plan.delete_missing:
                deleted += s.execute(missing(table, staged, keys, window, f))
        else:
            if plan.delete_missing:
                deleted += s.execute(missing(table, staged, keys, window, f))
            if plan.update:
                s.execute(sql.delete_changed_sql(table, source, columns, keys, f, casts))
            s.execute(sql.insert_new_sql(table, source, columns, keys, f, casts))
        return WriteResult(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted)

    # ------------------------------------------------------------------ reading

    def count_rows(self, window: TargetWindow | None = None) -> int | None:
        with self.session(autocommit=True) as s:
            schema = s.table_schema(self.schema, self.table)
            if schema is None:
                return None
            pred = window_predicate(window, schema, self.dialect, self.table_sql)
            return int(s.scalar(sql.count_sql(self.table_sql, pred, self.flavor)))

    def arrow_schema(self) -> pa.Schema | None:
        with self.session(autocommit=True) as s:
            return s.table_schema(self.schema, self.table)

    def describe(self) -> dict:
        with self.session(autocommit=True) as s:
            schema = s.table_schema(self.schema, self.table)
            if schema is None:
                return {"row_count": None, "schema": None, "sql_types": None}
            rows = int(s.scalar(sql.count_sql(self.table_sql, None, self.flavor)))
            return {
                "row_count": rows,
                "schema": schema,
                "sql_types": s.column_types(self.schema, self.table),
            }


# a length-limited text type as catalogs spell it: varchar(20), NVARCHAR(20), character(3)…
_LENGTH = re.compile(r"^(character varying|varchar|nvarchar|character|char|nchar)\((\d+)\)$", re.I)


def _dry_run_before_ddl(reader, ddl: list[str], created: bool, flavor: str) -> WriteResult:
    """A dry run that stops before DDL which would commit at once: a new table would receive
    every live row; a table that needs new columns is reported without counts."""
    rows = 0
    for batch in reader:
        live = batch.num_rows
        if DELETED_FLAG in batch.schema.names:
            live -= batch.column(batch.schema.get_field_index(DELETED_FLAG)).true_count
        rows += live
    note = (
        f"the table does not exist yet: all {rows} rows would be inserted"
        if created
        else f"on {flavor} the DDL above commits at once, so the dry run stops before it: "
        "inserts, updates and deletes are not counted"
    )
    return WriteResult(
        rows_inserted=rows if created else 0,
        committed=False,
        ddl=ddl,
        extra={"sync/dry_run_note": note},
    )
