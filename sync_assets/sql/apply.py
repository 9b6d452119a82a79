"""Set-based statements that apply a staged batch to a SQL target (DuckDB, PostgreSQL).

Pure functions: every statement is built from names, types and a plan, so unit tests read
the exact SQL. The caller runs them in one transaction together with the state upsert.

Merge is "capture changed rows, delete their old versions, insert": one pass that works on
both engines (PostgreSQL 15 has no WHEN NOT MATCHED BY SOURCE) and counts inserts and
updates exactly, leaving unchanged rows untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from sync_assets.sql.literals import qualified, quote_ident, quote_string

STATE_SCHEMA = "_sync_assets"
STATE_TABLE = "sync_state"
CHANGED = "__sync_changed"


def create_table_sql(table: str, schema: pa.Schema, type_of: Callable[[pa.DataType], str]) -> str:
    cols = ", ".join(f"{quote_ident(f.name)} {type_of(f.type)}" for f in schema)
    return f"CREATE TABLE {table} ({cols})"


def add_column_sql(table: str, field: pa.Field, type_of) -> str:
    return f"ALTER TABLE {table} ADD COLUMN {quote_ident(field.name)} {type_of(field.type)}"


# An explicit CAST to a length-limited text type truncates silently; left to the INSERT's
# assignment cast, a value that does not fit is an error instead ("value too long").
_LENGTH_LIMITED = ("character varying(", "character(", "varchar(", "char(")


def _as_target(alias: str, column: str, types: dict[str, str]) -> str:
    """A staged column in the target column's type (length-limited text: left as it is)."""
    ref = f"{alias}.{quote_ident(column)}"
    if types[column].lower().startswith(_LENGTH_LIMITED):
        return ref
    return f"CAST({ref} AS {types[column]})"


def _casted(alias: str, columns: Sequence[str], types: dict[str, str]) -> str:
    return ", ".join(_as_target(alias, c, types) for c in columns)


def insert_sql(table: str, source: str, columns: Sequence[str], types: dict[str, str]) -> str:
    """INSERT the staged columns, cast to the target's types."""
    names = ", ".join(quote_ident(c) for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {_casted('s', columns, types)} FROM {source} AS s"


def delete_window_sql(table: str, window_predicate: str | None) -> str:
    """Remove the slice a replace owns (the whole table when there is no window)."""
    where = f" WHERE {window_predicate}" if window_predicate else ""
    return f"DELETE FROM {table}{where}"


def _key_match(keys: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote_ident(k)} = {right}.{quote_ident(k)}" for k in keys)


def differs_sql(columns, known, old: str, new: str) -> str:
    """True where row `new` differs from row `old` on `columns`; a column the old rows lack
    (added by schema evolution) differs wherever the new row has a value. Each comparison is
    parenthesised: DataFusion (Delta predicates) binds OR tighter than IS DISTINCT FROM."""
    return " OR ".join(
        f"({old}.{quote_ident(c)} IS DISTINCT FROM {new}.{quote_ident(c)})" if c in known else f"({new}.{quote_ident(c)} IS NOT NULL)"
        for c in columns
    ) or "FALSE"


def changed_rows_sql(table: str, staged: str, columns, keys, types, *, update: bool, temp: str) -> str:
    """Staged rows that are new, or (when updating) differ from the target row with their key."""
    new = f"t.{quote_ident(keys[0])} IS NULL"
    condition = new
    others = [c for c in columns if c not in keys]
    if update and others:
        differs = " OR ".join(
            f"(t.{quote_ident(c)} IS DISTINCT FROM {_as_target('s', c, types)})" for c in others
        )
        condition = f"{new} OR {differs}"
    names = ", ".join(f"s.{quote_ident(c)}" for c in columns)
    return (
        f"CREATE TEMP TABLE {temp} AS SELECT {names}, ({new}) AS __is_new "
        f"FROM {staged} AS s LEFT JOIN {table} AS t ON {_key_match(keys, 't', 's')} WHERE {condition}"
    )


def delete_replaced_sql(table: str, changed: str, keys, dialect: str) -> str:
    """Delete the old versions of updated rows (those in `changed` that are not new)."""
    match = _key_match(keys, "t", "c")
    return f"DELETE FROM {table} AS t USING {changed} AS c WHERE {match} AND NOT c.__is_new"


def delete_missing_sql(table: str, staged: str, keys, window_predicate: str | None) -> str:
    """Delete target rows (in the window) whose key is absent from the staged source."""
    scope = f"{window_predicate} AND " if window_predicate else ""
    match = _key_match(keys, "s", "t")
    return f"DELETE FROM {table} AS t WHERE {scope}NOT EXISTS (SELECT 1 FROM {staged} AS s WHERE {match})"


def flagged_deletes_sql(table: str, staged: str, keys, flag: str, soft_column: str | None) -> str:
    """Change streams: delete the keys flagged in `flag`, or with `soft_column`, mark them."""
    match = _key_match(keys, "t", "s")
    if soft_column is None:
        return f"DELETE FROM {table} AS t USING {staged} AS s WHERE {match} AND s.{quote_ident(flag)}"
    mark = quote_ident(soft_column)
    return (
        f"UPDATE {table} AS t SET {mark} = TRUE FROM {staged} AS s "
        f"WHERE {match} AND s.{quote_ident(flag)} AND t.{mark} IS NOT TRUE"
    )


def not_flagged(staged: str, flag: str) -> str:
    """The rows of a change stream that are upserts (not deletes), as a FROM item."""
    return f"(SELECT * FROM {staged} WHERE NOT {quote_ident(flag)})"


def duplicate_keys_sql(staged: str, keys) -> str:
    cols = ", ".join(quote_ident(k) for k in keys)
    return f"SELECT {cols}, count(*) AS n FROM {staged} GROUP BY {cols} HAVING count(*) > 1 LIMIT 3"


def count_sql(table: str, where: str | None = None) -> str:
    return f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")


def state_ddl(dialect: str) -> list[str]:
    table = qualified(STATE_SCHEMA, STATE_TABLE)
    ts = "TIMESTAMPTZ" if dialect == "duckdb" else "timestamptz"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(STATE_SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {table} (object_id VARCHAR PRIMARY KEY, "
        f"target_table VARCHAR NOT NULL, state VARCHAR NOT NULL, updated_at {ts} NOT NULL)",
    ]


def state_upsert_sql(object_id: str, target_table: str, state_json: str) -> str:
    table = qualified(STATE_SCHEMA, STATE_TABLE)
    values = ", ".join(quote_string(v) for v in (object_id, target_table, state_json))
    return (
        f"INSERT INTO {table} (object_id, target_table, state, updated_at) "
        f"VALUES ({values}, CURRENT_TIMESTAMP) ON CONFLICT (object_id) DO UPDATE SET "
        "target_table = excluded.target_table, state = excluded.state, updated_at = excluded.updated_at"
    )


def state_select_sql(object_id: str, target_table: str) -> str:
    """The object's state, only if it was written for this very table."""
    table = qualified(STATE_SCHEMA, STATE_TABLE)
    return (
        f"SELECT state FROM {table} WHERE object_id = {quote_string(object_id)} "
        f"AND target_table = {quote_string(target_table)}"
    )
