"""A semantic model's metadata in Snowflake, and the record of what was synced (seed 001's
`_SEMANTIC_METADATA`, kept with the data instead of a `sync_state.json`).

    _SEMANTIC_METADATA       a row per model: id, name, source, definition hash, sync count,
                             first and last sync, deleted flag, the semantic view, refusals
    _SEMANTIC_TABLES         a row per table (with its partition mode and Direct Lake entity)
    _SEMANTIC_COLUMNS        a row per column
    _SEMANTIC_MEASURES       a row per measure, with its metric SQL or why it has none
    _SEMANTIC_RELATIONSHIPS  a row per relationship

A sync of one model replaces its rows in all five tables and increments its sync count in
one transaction (the tables are created first: DDL commits on its own in Snowflake), so a
reader sees the model before or after, and a rerun leaves exactly one set of rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sync_assets.semantic.model import SemanticModel
from sync_assets.semantic.view import SemanticView
from sync_assets.sql.literals import quote_ident

# {ts}: the engine's timestamp with time zone (Snowflake TIMESTAMP_TZ, DuckDB TIMESTAMPTZ)
TABLES = {
    "_SEMANTIC_METADATA": (
        "MODEL_ID VARCHAR NOT NULL, MODEL_NAME VARCHAR, SOURCE VARCHAR, DEFINITION_HASH VARCHAR, "
        "SYNC_COUNT BIGINT, FIRST_SYNCED_AT {ts}, SYNCED_AT {ts}, "
        "IS_DELETED BOOLEAN, DELETED_AT {ts}, SEMANTIC_VIEW VARCHAR, NOTES VARCHAR"
    ),
    "_SEMANTIC_TABLES": (
        "MODEL_ID VARCHAR NOT NULL, TABLE_NAME VARCHAR, IS_HIDDEN BOOLEAN, "
        "PARTITION_MODE VARCHAR, SOURCE_SCHEMA VARCHAR, SOURCE_ENTITY VARCHAR"
    ),
    "_SEMANTIC_COLUMNS": (
        "MODEL_ID VARCHAR NOT NULL, TABLE_NAME VARCHAR, COLUMN_NAME VARCHAR, DATA_TYPE VARCHAR, "
        "SOURCE_COLUMN VARCHAR, IS_HIDDEN BOOLEAN, EXPRESSION VARCHAR"
    ),
    "_SEMANTIC_MEASURES": (
        "MODEL_ID VARCHAR NOT NULL, TABLE_NAME VARCHAR, MEASURE_NAME VARCHAR, EXPRESSION VARCHAR, "
        "FORMAT_STRING VARCHAR, IS_HIDDEN BOOLEAN, METRIC_SQL VARCHAR, REFUSED_REASON VARCHAR"
    ),
    "_SEMANTIC_RELATIONSHIPS": (
        "MODEL_ID VARCHAR NOT NULL, FROM_TABLE VARCHAR, FROM_COLUMN VARCHAR, TO_TABLE VARCHAR, "
        "TO_COLUMN VARCHAR, FROM_CARDINALITY VARCHAR, TO_CARDINALITY VARCHAR, IS_ACTIVE BOOLEAN, "
        "CROSS_FILTER VARCHAR"
    ),
}


@dataclass(frozen=True)
class Synced:
    """What `_SEMANTIC_METADATA` says of one model."""

    model_id: str
    name: str
    definition_hash: str
    sync_count: int
    synced_at: dt.datetime | None
    deleted: bool


class SemanticStore:
    """The five tables in `schema` of a Snowflake connection (`sync_assets.snowflake`), or of
    a DuckDB file (DuckConnection below: the demo's, which needs no credentials)."""

    def __init__(self, connection, schema: str):
        self.connection = connection
        self.schema = schema
        self.timestamp = "TIMESTAMPTZ" if isinstance(connection, DuckConnection) else "TIMESTAMP_TZ"

    def table(self, name: str) -> str:
        # DuckDB: with the catalog, which a schema of the file's own name would shadow
        catalog = getattr(self.connection, "catalog", None)
        prefix = f"{quote_ident(catalog)}." if catalog else ""
        return f"{prefix}{quote_ident(self.schema)}.{quote_ident(name)}"

    def ensure(self) -> None:
        cur = self.connection.cursor()
        schema = self.table("x").rsplit(".", 1)[0]
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for name, columns in TABLES.items():
            typed = columns.format(ts=self.timestamp)
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table(name)} ({typed})")

    def synced(self) -> dict[str, Synced]:
        """Every model the tables hold (deleted ones included)."""
        self.ensure()
        rows = (
            self.connection.cursor()
            .execute(
                "SELECT MODEL_ID, MODEL_NAME, DEFINITION_HASH, SYNC_COUNT, SYNCED_AT, IS_DELETED "
                f"FROM {self.table('_SEMANTIC_METADATA')}"
            )
            .fetchall()
        )
        return {r[0]: Synced(r[0], r[1], r[2], int(r[3] or 0), r[4], bool(r[5])) for r in rows}

    def write(
        self, model_id: str, model: SemanticModel, source: str, view: SemanticView | None
    ) -> Synced:
        """Replace the model's rows in all five tables and count the sync, atomically."""
        self.ensure()
        now = dt.datetime.now(dt.UTC)
        notes = model.notes + (view.notes if view else [])
        conn = self.connection
        conn.autocommit = False
        try:
            cur = conn.cursor()
            stored = cur.execute(
                f"SELECT SYNC_COUNT, FIRST_SYNCED_AT FROM {self.table('_SEMANTIC_METADATA')} "
                "WHERE MODEL_ID = ?",
                model_id,
            ).fetchone()
            count = int(stored[0] or 0) + 1 if stored else 1
            first = stored[1] if stored and stored[1] else now
            for name in TABLES:
                cur.execute(f"DELETE FROM {self.table(name)} WHERE MODEL_ID = ?", model_id)
            self._insert(
                cur,
                "_SEMANTIC_METADATA",
                [[model_id, model.name, source, model.definition_hash(), count,
                  first, now, False, None, view.sql if view else None,
                  json.dumps(notes) if notes else None]],
            )  # fmt: skip
            self._insert(cur, "_SEMANTIC_TABLES", _tables(model_id, model))
            self._insert(cur, "_SEMANTIC_COLUMNS", _columns(model_id, model))
            self._insert(cur, "_SEMANTIC_MEASURES", _measures(model_id, model, view))
            self._insert(cur, "_SEMANTIC_RELATIONSHIPS", _relationships(model_id, model))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True
        return Synced(model_id, model.name, model.definition_hash(), count, now, False)

    def counts(self, model_id: str) -> str:
        """ "3 tables, 9 columns, 5 measures (2 refused), 2 relationships" of one model."""
        cur = self.connection.cursor()

        def count(name: str, where: str = "") -> int:
            sql = f"SELECT COUNT(*) FROM {self.table(name)} WHERE MODEL_ID = ?{where}"
            return cur.execute(sql, model_id).fetchone()[0]

        refused = count("_SEMANTIC_MEASURES", " AND REFUSED_REASON IS NOT NULL")
        return (
            f"{count('_SEMANTIC_TABLES')} tables, {count('_SEMANTIC_COLUMNS')} columns, "
            f"{count('_SEMANTIC_MEASURES')} measures ({refused} refused), "
            f"{count('_SEMANTIC_RELATIONSHIPS')} relationships"
        )

    def mark_deleted(self, model_id: str) -> None:
        """The model is gone from its source: flagged, its rows kept."""
        self.ensure()
        self.connection.cursor().execute(
            f"UPDATE {self.table('_SEMANTIC_METADATA')} SET IS_DELETED = TRUE, DELETED_AT = ? "
            "WHERE MODEL_ID = ? AND NOT IS_DELETED",
            dt.datetime.now(dt.UTC),
            model_id,
        )

    def _insert(self, cur, name: str, rows: list[list]) -> None:
        if not rows:
            return
        width = len(rows[0])
        values = ", ".join("(" + ", ".join("?" * width) + ")" for _ in rows)
        binds = [v for row in rows for v in row]
        cur.execute(f"INSERT INTO {self.table(name)} VALUES {values}", *binds)


def _tables(model_id: str, model: SemanticModel) -> list[list]:
    rows = []
    for t in model.tables:
        part = t.partitions[0] if t.partitions else None
        rows.append(
            [model_id, t.name, t.hidden, part.mode if part else None,
             part.schema if part else None, part.entity if part else None]
        )  # fmt: skip
    return rows


def _columns(model_id: str, model: SemanticModel) -> list[list]:
    return [
        [model_id, t.name, c.name, c.data_type, c.source_column, c.hidden, c.expression]
        for t in model.tables
        for c in t.columns
    ]


def _measures(model_id: str, model: SemanticModel, view: SemanticView | None) -> list[list]:
    def refusal(table: str, measure: str) -> str | None:
        if view is None:
            return "no semantic view was built"
        if (table, measure) in view.metrics:
            return None
        return view.refused_measures.get((table, measure), "its table has no copy in Snowflake")

    return [
        [model_id, t.name, m.name, m.expression, m.format_string, m.hidden,
         view.metrics.get((t.name, m.name)) if view else None, refusal(t.name, m.name)]
        for t in model.tables
        for m in t.measures
    ]  # fmt: skip


def _relationships(model_id: str, model: SemanticModel) -> list[list]:
    return [
        [model_id, r.from_table, r.from_column, r.to_table, r.to_column, r.from_cardinality,
         r.to_cardinality, r.active, r.cross_filter]
        for r in model.relationships
    ]  # fmt: skip


class DuckConnection:
    """A DuckDB file behind the small connection API the store uses (as Snowflake's)."""

    def __init__(self, path: str):
        from sync_assets.duck import connect

        self.raw = connect(path)
        self.catalog = self.raw.execute("SELECT current_database()").fetchone()[0]
        self._autocommit = True

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if not value and self._autocommit:
            self.raw.execute("BEGIN TRANSACTION")
        self._autocommit = value

    def cursor(self):
        return _DuckCursor(self.raw)

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


class _DuckCursor:
    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, *binds):
        self.raw.execute(sql, list(binds) if binds else None)
        return self

    def fetchone(self):
        return self.raw.fetchone()

    def fetchall(self):
        return self.raw.fetchall()
