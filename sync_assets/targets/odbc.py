"""Tables on SQL Server / Azure SQL, Synapse dedicated pools and Fabric Warehouse (and
PostgreSQL through psqlODBC), written through pyodbc.

One write: make sure the table exists with the right columns, bulk-load the stream into a
staging table (parameter arrays of one Arrow batch each, or COPY INTO from Parquet staged in
ADLS / OneLake), then apply it with set-based statements and upsert the sync state in one
transaction. Flavors without DDL in transactions (Synapse, Fabric) run the DDL and the
staging load first, in autocommit; the target table only changes at COMMIT either way.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pyarrow as pa

from sync_assets.config.models import TsqlConnection
from sync_assets.faults import crashpoint
from sync_assets.secrets import redact
from sync_assets.streams import closing, nested_as_json
from sync_assets.targets.base import (
    DELETED_FLAG, Target, TargetWindow, WritePlan, WriteResult, window_predicate, with_soft_delete,
)
from sync_assets.tsql import odbc
from sync_assets.tsql import statements as sql
from sync_assets.tsql.copy_staging import CopyStager
from sync_assets.tsql.types import arrow_type_of, column_type, field_max_length
from sync_assets.types import cast_reader, evolve

DEFAULT_SCHEMAS = {"tsql": "dbo", "postgres": "public"}


class OdbcTarget(Target):
    """One table on a T-SQL endpoint (or PostgreSQL through ODBC)."""

    kind = "tsql"

    def __init__(self, conn: TsqlConnection, base_dir: str, object_id: str, schema: str | None, table: str):
        self.conn = conn
        self.flavor = odbc.flavor_of(conn)
        self.dialect = self.flavor.dialect
        self.object_id = object_id
        self.schema = schema or DEFAULT_SCHEMAS[self.dialect]
        self.table = table
        self.table_sql = sql.table_name(self.schema, table, self.flavor)

    @property
    def uri(self) -> str:
        c = self.conn
        where = f"{c.server}/{c.database}" if c.server else redact(c.odbc_connect or "", c.secrets)
        return f"{self.flavor.name}://{where}#{self.schema}.{self.table}"

    # ------------------------------------------------------------------ hooks (Snowflake overrides them)

    def _open(self, autocommit: bool):
        """A connection with pyodbc's API: cursor().execute(sql, *binds), autocommit, commit."""
        return odbc.connect(self.conn, autocommit=autocommit)

    def _column_type(self, field: pa.Field) -> tuple[str, pa.DataType]:
        return column_type(field.type, self.flavor, field_max_length(field))

    def _arrow_type(self, row) -> pa.DataType:
        return arrow_type_of(row[1], row[2], row[3], row[4])

    def _catalog_sql(self) -> str:
        return sql.table_columns_sql(self.flavor)

    def _stream(self, cur, schema: pa.Schema):
        return odbc.stream_cursor(cur, schema, 65_536)

    @contextmanager
    def _connection(self, autocommit: bool = False):
        con = self._open(autocommit)
        try:
            yield con
        finally:
            try:
                if not con.autocommit:
                    con.rollback()
            finally:
                con.close()

    # ------------------------------------------------------------------ catalog

    def _schema_of(self, cur, schema: str, table: str) -> pa.Schema | None:
        cur.execute(self._catalog_sql(), schema, table)
        rows = cur.fetchall()
        if not rows:
            return None
        return pa.schema([pa.field(r[0], self._arrow_type(r)) for r in rows])

    def _table_schema(self, cur) -> pa.Schema | None:
        return self._schema_of(cur, self.schema, self.table)

    # ------------------------------------------------------------------ state

    @property
    def state_name(self) -> str:
        return f"{self.schema}.{self.table}"

    def read_state(self) -> dict | None:
        with self._connection() as con:
            cur = con.cursor()
            # a dropped (or re-pointed) table starts over: its old watermark must not apply
            if self._table_schema(cur) is None or self._schema_of(cur, sql.STATE_SCHEMA, sql.STATE_TABLE) is None:
                return None
            cur.execute(sql.state_select_sql(self.flavor), self.object_id, self.state_name)
            row = cur.fetchone()
            return json.loads(row[0]) if row else None

    # ------------------------------------------------------------------ write

    def _prepare(self, reader: pa.RecordBatchReader, plan: WritePlan) -> pa.RecordBatchReader:
        """Nested values as JSON text, every column as the type the table stores."""
        reader = with_soft_delete(nested_as_json(reader), plan)
        fields = [pa.field(f.name, self._column_type(f)[1], metadata=f.metadata) for f in reader.schema]
        return cast_reader(reader, pa.schema(fields))

    def write(self, reader: pa.RecordBatchReader, plan: WritePlan, state: dict) -> WriteResult:
        reader = self._prepare(reader, plan)
        stage = sql.staging_table(self.object_id, self.flavor)
        with self._connection(autocommit=not self.flavor.ddl_in_transaction) as con:
            cur = con.cursor()
            if self.flavor.name == "sqlserver":
                cur.execute("SET XACT_ABORT ON")  # any error dooms the whole transaction
            try:
                schema = self._ensure_table(cur, reader.schema)
                stage_schema = pa.schema([schema.field(n) if n in schema.names else reader.schema.field(n) for n in reader.schema.names])
                self._create_stage(cur, stage, stage_schema)
                self._load_stage(cur, stage, cast_reader(reader, stage_schema))
                crashpoint("staged")
                con.autocommit = False
                result = self._apply(cur, plan, stage, [n for n in reader.schema.names if n != DELETED_FLAG], schema)
                for statement, binds in zip(sql.state_upsert_sql(self.flavor),
                                            [(self.object_id,), (self.object_id, self.state_name, json.dumps(state, default=str))]):
                    cur.execute(statement, *binds)
                crashpoint("before_commit")
                con.commit()
            finally:
                if not self.flavor.temp_staging:
                    con.rollback()
                    con.autocommit = True
                    cur.execute(sql.drop_staging_sql(stage, self.flavor))
        return result

    def _ensure_table(self, cur, incoming: pa.Schema) -> pa.Schema:
        """Create the table, or add the incoming columns it lacks; return the table's schema."""
        for statement in sql.state_ddl(self.flavor):
            cur.execute(statement)
        incoming = pa.schema([f for f in incoming if f.name != DELETED_FLAG])
        existing = self._table_schema(cur)
        if existing is None:
            cur.execute(sql.create_schema_sql(self.schema, self.flavor))
            columns = [(f.name, self._column_type(f)[0]) for f in incoming]
            cur.execute(sql.create_table_sql(self.table_sql, columns, self.flavor))
            return incoming
        _, added = evolve(existing, incoming, f"{self.flavor.name} table {self.schema}.{self.table}")
        for field in added:
            cur.execute(sql.add_column_sql(self.table_sql, field.name, self._column_type(field)[0], self.flavor))
        return pa.schema(list(existing) + added)

    def _create_stage(self, cur, stage: str, schema: pa.Schema) -> None:
        cur.execute(sql.drop_staging_sql(stage, self.flavor))
        # staging columns are unbounded: a value longer than the target column fails at the
        # apply, inside the transaction, with the server's own message
        columns = [(f.name, self._column_type(f.remove_metadata())[0]) for f in schema]
        cur.execute(sql.create_staging_sql(stage, columns, self.flavor))

    def _load_stage(self, cur, stage: str, reader: pa.RecordBatchReader) -> None:
        if self.conn.staging and self.flavor.copy_into:
            CopyStager(self.conn.staging, self.object_id).load(cur, stage, reader, self.flavor)
            return
        insert = sql.insert_values_sql(stage, reader.schema.names, self.flavor)
        cur.fast_executemany = True
        for batch in reader:
            if batch.num_rows:
                cur.setinputsizes(odbc.input_sizes(batch, self.flavor))
                cur.executemany(insert, odbc.bind_columns(batch))

    # ------------------------------------------------------------------ applying

    def _apply(self, cur, plan: WritePlan, stage: str, columns: list[str], schema: pa.Schema) -> WriteResult:
        window = window_predicate(plan.window, schema, self.dialect, self.table_sql)
        table, f = self.table_sql, self.flavor
        if plan.mode == "append":
            result = WriteResult(rows_inserted=_run(cur, sql.insert_select_sql(table, stage, columns, f)))
        elif plan.mode == "replace":
            deleted = _run(cur, sql.delete_window_sql(table, window))
            result = WriteResult(rows_inserted=_run(cur, sql.insert_select_sql(table, stage, columns, f)), rows_deleted=deleted)
        else:
            result = self._merge(cur, plan, stage, columns, window)
        cur.execute(sql.count_sql(table, window, f))
        result.row_count = cur.fetchone()[0]
        result.schema = self._table_schema(cur)
        return result

    def _merge(self, cur, plan: WritePlan, stage: str, columns: list[str], window: str | None) -> WriteResult:
        table, keys, f = self.table_sql, list(plan.merge_keys), self.flavor
        cur.execute(sql.duplicate_keys_sql(stage, keys, f))
        dupes = cur.fetchall()
        if dupes:
            raise ValueError(
                f"merge_keys {keys} are not unique in the source rows of this run "
                f"(e.g. {tuple(dupes[0])[:-1]} appears {dupes[0][-1]} times)"
            )
        deleted = 0
        if plan.deletes:
            flagged = sql.soft_delete_flagged_sql if plan.soft_delete else sql.delete_flagged_sql
            deleted = _run(cur, flagged(table, stage, keys, f))
        source = sql.upsert_source(stage, plan.deletes, f)
        cur.execute(sql.merge_counts_sql(table, source, columns, keys, f, update=plan.update))
        inserted, updated = (int(v) for v in cur.fetchone())
        if f.has_merge:
            # T-SQL deletes rows missing from the source inside the MERGE; PostgreSQL 15 cannot
            merged = _run(cur, sql.merge_sql(table, source, columns, keys, f, update=plan.update,
                                             delete_missing=plan.delete_missing, window=window))
            if plan.delete_missing and f.dialect == "tsql":
                deleted += merged - inserted - updated
            elif plan.delete_missing:
                deleted += _run(cur, sql.delete_missing_sql(table, stage, keys, window, f))
        else:
            if plan.delete_missing:
                deleted += _run(cur, sql.delete_missing_sql(table, stage, keys, window, f))
            if plan.update:
                _run(cur, sql.delete_changed_sql(table, source, columns, keys, f))
            _run(cur, sql.insert_new_sql(table, source, columns, keys, f))
        return WriteResult(rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted)

    # ------------------------------------------------------------------ reading

    def read(self, window: TargetWindow | None = None) -> pa.RecordBatchReader:
        con = self._open(autocommit=False)
        cur = con.cursor()
        schema = self._table_schema(cur)
        if schema is None:
            con.close()
            raise FileNotFoundError(f"{self.uri}: table does not exist")
        pred = window_predicate(window, schema, self.dialect, self.table_sql)
        where = f" WHERE {pred}" if pred else ""
        cur.execute(f"SELECT * FROM {self.table_sql}{where}")
        reader = pa.RecordBatchReader.from_batches(schema, self._stream(cur, schema))
        return closing(reader, cur.close, con.close)

    def count_rows(self, window=None) -> int | None:
        with self._connection() as con:
            cur = con.cursor()
            schema = self._table_schema(cur)
            if schema is None:
                return None
            pred = window_predicate(window, schema, self.dialect, self.table_sql)
            cur.execute(sql.count_sql(self.table_sql, pred, self.flavor))
            return cur.fetchone()[0]

    def describe(self) -> dict:
        with self._connection() as con:
            cur = con.cursor()
            schema = self._table_schema(cur)
            if schema is None:
                return {"row_count": None, "schema": None}
            cur.execute(sql.count_sql(self.table_sql, None, self.flavor))
            return {"row_count": cur.fetchone()[0], "schema": schema}


def _run(cur, statement: str) -> int:
    cur.execute(statement)
    return max(cur.rowcount, 0)
