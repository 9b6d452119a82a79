"""Every statement the one SQL writer (`targets/sql_writer.py`) runs, for every SQL target (DuckDB,
PostgreSQL, the T-SQL flavors, Snowflake), built by pure functions from names, types and a
flavor; plus the key-match and "row differs" predicates the Delta and Parquet targets use.

Tests read these texts against golden files per flavor and parse the T-SQL back with
sqlglot; the PostgreSQL and DuckDB renderings run for real in the test matrices, and the
Snowflake one against the fakesnow server.

Applying a staged batch, in one transaction with the state:
- replace: DELETE the slice (the whole table, or the partition window), INSERT … SELECT.
- append: INSERT … SELECT.
- merge: one MERGE where the flavor has it (upsert, plus WHEN NOT MATCHED BY SOURCE … DELETE
  for whole-source merges on T-SQL); otherwise delete-changed + insert-new.
- change streams (Change Tracking, CDF) carry a `__sync_deleted` flag per row: flagged keys
  are deleted (or marked `_is_deleted = 1`) first, the other rows are merged as above.
Rows that did not change are never rewritten; counts come from one set-based query.

`casts` (column -> the target's SQL type) is given by engines whose staged relation keeps the
stream's Arrow types (DuckDB's registered stream, PostgreSQL's COPY temp table): staged values
are then cast to the column's type, except length-limited text, where an explicit CAST would
truncate silently and the INSERT's own assignment check fails instead ("value too long").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sync_assets.columns import DELETED_AT_COLUMN as DELETED_AT
from sync_assets.columns import DELETED_FLAG as DELETED
from sync_assets.columns import SOFT_DELETE_COLUMN as SOFT_DELETED
from sync_assets.sql.flavors import Flavor

STATE_SCHEMA = "_sync_assets"
STATE_TABLE = "sync_state"
Casts = dict[str, str] | None


def quote(name: str, flavor: Flavor) -> str:
    return flavor.quote(name)


def table_name(schema: str | None, table: str, flavor: Flavor) -> str:
    return ".".join(quote(p, flavor) for p in (schema, table) if p)


def string_literal(value: str, flavor: Flavor) -> str:
    """A string literal (N'…', Unicode, on T-SQL)."""
    text = "'" + value.replace("'", "''") + "'"
    return "N" + text if flavor.dialect == "tsql" else text


def _with(options: str | None) -> str:
    return f" WITH ({options})" if options else ""


# ----------------------------------------------------------------------------- DDL


def create_schema_sql(schema: str, flavor: Flavor) -> str:
    if flavor.dialect == "tsql":
        # CREATE SCHEMA must be alone in its batch: run it through EXEC
        return f"IF SCHEMA_ID({string_literal(schema, flavor)}) IS NULL EXEC({string_literal('CREATE SCHEMA ' + quote(schema, flavor), flavor)})"
    return f"CREATE SCHEMA IF NOT EXISTS {quote(schema, flavor)}"


def _column_list(columns: Sequence[tuple[str, str]], flavor: Flavor) -> str:
    return ", ".join(f"{quote(name, flavor)} {sql_type}" for name, sql_type in columns)


def create_table_sql(table: str, columns: Sequence[tuple[str, str]], flavor: Flavor) -> str:
    """CREATE TABLE with explicit column types (from `tsql.types.sql_type`)."""
    return f"CREATE TABLE {table} ({_column_list(columns, flavor)}){_with(flavor.table_options)}"


def key_index_name(table: str) -> str:
    """The name of the index on a table's merge keys (within PostgreSQL's 63 bytes)."""
    name = f"{table}_sync_keys"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:10]
    return f"{table.encode()[:40].decode(errors='ignore')}_{digest}_sync_keys"


def key_index_sql(schema: str, table: str, keys: Sequence[str], flavor: Flavor) -> str | None:
    """An index on the merge keys, so a merge's join looks its rows up instead of scanning
    the whole table (twice: the change capture and the MERGE), where the engine uses one for
    that: PostgreSQL (unique: the keys are unique in every merge target; NULL keys stay
    allowed) and SQL Server / Azure SQL (nonclustered, not unique: a unique index there allows
    one NULL key). None elsewhere: DuckDB joins by hashing its columnar scan either way, and
    Synapse, Fabric Warehouse and Snowflake have no such index."""
    name, cols = key_index_name(table), _cols(None, keys, flavor)
    full = table_name(schema, table, flavor)
    if flavor.name == "postgres":
        return f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(name, flavor)} ON {full} ({cols})"
    if flavor.name == "sqlserver":
        return (
            f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = {string_literal(name, flavor)} "
            f"AND object_id = OBJECT_ID({string_literal(full, flavor)})) "
            f"CREATE NONCLUSTERED INDEX {quote(name, flavor)} ON {full} ({cols})"
        )
    return None


def plan_for_lookups_sql(relation: str, flavor: Flavor) -> list[str]:
    """Before a merge joins `relation` (a staged or captured TEMP table) to its target:
    PostgreSQL's planner needs the temp table's statistics (autovacuum never analyzes temp
    tables, so it guesses its size) and a random_page_cost for cached / SSD storage (1.1,
    the usual advice; the default 4 assumes spinning disks). With both it looks a small batch
    up through the key index (measured: 1M-row target, 15k changed rows spread over every
    page: change capture 231 -> 126 ms, MERGE 324 -> 109 ms) and still hashes a large one.
    SET LOCAL ends with the transaction."""
    if flavor.name != "postgres":
        return []
    return ["SET LOCAL random_page_cost = 1.1"]


def key_index_exists_sql(flavor: Flavor) -> str:
    """Whether the merge-key index exists (binds: schema, index name)."""
    if flavor.dialect == "tsql":
        return (
            "SELECT COUNT(*) FROM sys.indexes i JOIN sys.tables t ON i.object_id = t.object_id "
            "WHERE SCHEMA_NAME(t.schema_id) = ? AND i.name = ?"
        )
    return "SELECT count(*) FROM pg_indexes WHERE schemaname = ? AND indexname = ?"


def add_column_sql(table: str, name: str, sql_type: str, flavor: Flavor) -> str:
    keyword = "ADD" if flavor.dialect == "tsql" else "ADD COLUMN"
    return f"ALTER TABLE {table} {keyword} {quote(name, flavor)} {sql_type}"


def table_columns_sql(flavor: Flavor) -> str:
    """Columns of one table (binds: schema, table), in order, as INFORMATION_SCHEMA has them."""
    return (
        "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, "
        "CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
    )


# ----------------------------------------------------------------------------- staging


def staging_table(object_id: str, flavor: Flavor) -> str:
    """Where a batch is staged: a session temp table, or a table of its own per object."""
    if flavor.dialect == "tsql" and flavor.temp_staging:
        return "[#__sync_stage]"
    if flavor.temp_staging:
        return quote("__sync_stage", flavor)
    return table_name(STATE_SCHEMA, f"stage_{object_id}", flavor)


def create_staging_sql(stage: str, columns: Sequence[tuple[str, str]], flavor: Flavor) -> str:
    temp = "TEMP " if flavor.dialect == "postgres" else ""
    return f"CREATE {temp}TABLE {stage} ({_column_list(columns, flavor)}){_with(flavor.staging_options)}"


def drop_staging_sql(stage: str, flavor: Flavor) -> str:
    if flavor.dialect == "tsql":
        lookup = f"tempdb..{stage.strip('[]')}" if stage.startswith("[#") else stage
        return f"IF OBJECT_ID({string_literal(lookup, flavor)}) IS NOT NULL DROP TABLE {stage}"
    return f"DROP TABLE IF EXISTS {stage}"


def insert_values_sql(table: str, columns: Sequence[str], flavor: Flavor) -> str:
    """The parameterised INSERT that fast_executemany binds a whole batch to."""
    names = ", ".join(quote(c, flavor) for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"


# ----------------------------------------------------------------------------- applying


def _cols(alias: str | None, columns: Sequence[str], flavor: Flavor) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(c, flavor)}" for c in columns)


# An explicit CAST to a length-limited text type truncates silently (see the module doc)
_LENGTH_LIMITED = ("character varying(", "character(", "varchar(", "char(")


def staged(alias: str, column: str, flavor: Flavor, casts: Casts = None) -> str:
    """A staged column as the target column's type (cast when `casts` says the staged
    relation carries the stream's own types)."""
    ref = f"{alias}.{quote(column, flavor)}"
    cast = (casts or {}).get(column)
    if not cast or cast.lower().startswith(_LENGTH_LIMITED):
        return ref
    if flavor.json_from_text and cast.upper() == "VARIANT":  # staged as its JSON text
        return flavor.json_from_text.format(ref)
    return f"CAST({ref} AS {cast})"


def _values(alias: str, columns: Sequence[str], flavor: Flavor, casts: Casts) -> str:
    return ", ".join(staged(alias, c, flavor, casts) for c in columns)


def key_match(keys: Sequence[str], left: str, right: str, flavor: Flavor) -> str:
    """Rows `left` and `right` have the same key: compound keys compared column by column."""
    return " AND ".join(f"{left}.{quote(k, flavor)} = {right}.{quote(k, flavor)}" for k in keys)


def differs(
    old: str, new: str, columns: Sequence[str], flavor: Flavor, *, casts: Casts = None, known=None
) -> str:
    """Null-safe "row `new` differs from row `old` on `columns`" (NULL equals NULL). With
    `known` (the columns the old rows have), a column the old rows lack (added by schema
    evolution) differs wherever the new row has a value."""
    if not columns:
        return "1 = 0" if flavor.dialect == "tsql" else "FALSE"
    if flavor.differs == "intersect":
        return f"NOT EXISTS (SELECT {_cols(old, columns, flavor)} INTERSECT SELECT {_cols(new, columns, flavor)})"
    if flavor.differs == "row" and known is None:
        return f"({_cols(old, columns, flavor)}) IS DISTINCT FROM ({_values(new, columns, flavor, casts)})"
    compare = [
        f"({old}.{quote(c, flavor)} IS DISTINCT FROM {staged(new, c, flavor, casts)})"
        if known is None or c in known
        else f"({new}.{quote(c, flavor)} IS NOT NULL)"
        for c in columns
    ]
    return "(" + " OR ".join(compare) + ")"


def upsert_source(stage: str, changes: bool, flavor: Flavor) -> str:
    """The staged rows a merge upserts: all of them, or the not-deleted rows of a change stream."""
    if not changes:
        return stage
    return f"(SELECT * FROM {stage} WHERE {flavor.false(quote(DELETED, flavor))})"


def insert_select_sql(
    table: str, source: str, columns: Sequence[str], flavor: Flavor, casts: Casts = None
) -> str:
    return (
        f"INSERT INTO {table} ({_cols(None, columns, flavor)}) "
        f"SELECT {_values('s', columns, flavor, casts)} FROM {source} AS s"
    )


def delete_window_sql(table: str, window: str | None) -> str:
    return f"DELETE FROM {table}" + (f" WHERE {window}" if window else "")


def count_sql(table: str, where: str | None, flavor: Flavor) -> str:
    count = "COUNT_BIG(*)" if flavor.dialect == "tsql" else "count(*)"
    return f"SELECT {count} FROM {table}" + (f" WHERE {where}" if where else "")


def duplicate_keys_sql(stage: str, keys: Sequence[str], flavor: Flavor) -> str:
    cols = _cols(None, keys, flavor)
    if flavor.dialect == "tsql":
        return f"SELECT TOP 3 {cols}, COUNT_BIG(*) AS n FROM {stage} GROUP BY {cols} HAVING COUNT_BIG(*) > 1"
    return f"SELECT {cols}, count(*) AS n FROM {stage} GROUP BY {cols} HAVING count(*) > 1 LIMIT 3"


def merge_counts_sql(
    table: str, source: str, columns, keys, flavor: Flavor, *, update: bool, casts: Casts = None
) -> str:
    """Rows of `source` that a merge inserts, and that it updates (matched and different)."""
    others = [c for c in columns if c not in keys]
    new = f"t.{quote(keys[0], flavor)} IS NULL"
    changed = (
        f"NOT ({new}) AND {differs('t', 's', others, flavor, casts=casts)}"
        if update and others
        else "1 = 0"
    )
    return (
        f"SELECT COALESCE(SUM(CASE WHEN {new} THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN {changed} THEN 1 ELSE 0 END), 0) "
        f"FROM {source} AS s LEFT JOIN {table} AS t ON {key_match(keys, 't', 's', flavor)}"
    )


CHANGED = "__sync_changed"
NEW_FLAG = "__sync_new"


def capture_changes_sql(
    changed: str,
    table: str,
    source: str,
    columns,
    keys,
    flavor: Flavor,
    *,
    update: bool,
    casts: Casts = None,
) -> str:
    """The rows of `source` a merge writes, cast to the target's types, into a TEMP table:
    new keys (NEW_FLAG 1) and, when updating, keys whose values differ (NEW_FLAG 0)."""
    others = [c for c in columns if c not in keys]
    new = f"t.{quote(keys[0], flavor)} IS NULL"
    wanted = new
    if update and others:
        wanted = f"{new} OR {differs('t', 's', others, flavor, casts=casts)}"
    values = ", ".join(f"{staged('s', c, flavor, casts)} AS {quote(c, flavor)}" for c in columns)
    return (
        f"CREATE TEMP TABLE {changed} AS SELECT {values}, CASE WHEN {new} THEN 1 ELSE 0 END AS {NEW_FLAG} "
        f"FROM {source} AS s LEFT JOIN {table} AS t ON {key_match(keys, 't', 's', flavor)} WHERE {wanted}"
    )


def captured_counts_sql(changed: str) -> str:
    """(rows a merge inserts, rows it updates) from the captured changes."""
    return f"SELECT COALESCE(SUM({NEW_FLAG}), 0), COALESCE(SUM(1 - {NEW_FLAG}), 0) FROM {changed}"


def merge_sql(
    table: str,
    source: str,
    columns,
    keys,
    flavor: Flavor,
    *,
    update: bool,
    delete_missing: bool,
    window: str | None,
    casts: Casts = None,
    soft_delete: bool = False,
) -> str:
    """One MERGE: update changed rows, insert new keys, and (T-SQL, whole-source merges) delete
    target rows of the window whose key is not in the source (or mark them, `soft_delete`)."""
    others = [c for c in columns if c not in keys]
    hint = " WITH (HOLDLOCK)" if flavor.merge_holdlock else ""
    parts = [
        f"MERGE INTO {table}{hint} AS t USING {source} AS s ON {key_match(keys, 't', 's', flavor)}"
    ]
    if update and others:
        # T-SQL qualifies the SET columns; PostgreSQL and DuckDB name them unqualified
        target = "t." if flavor.dialect == "tsql" else ""
        sets = ", ".join(
            f"{target}{quote(c, flavor)} = {staged('s', c, flavor, casts)}" for c in others
        )
        parts.append(
            f"WHEN MATCHED AND {differs('t', 's', others, flavor, casts=casts)} THEN UPDATE SET {sets}"
        )
    by_target = " BY TARGET" if flavor.dialect == "tsql" else ""
    parts.append(
        f"WHEN NOT MATCHED{by_target} THEN INSERT ({_cols(None, columns, flavor)}) "
        f"VALUES ({_values('s', columns, flavor, casts)})"
    )
    if delete_missing and flavor.merge_by_source:
        scope = f" AND {window}" if window else ""
        if soft_delete:
            sets, live = _soft_mark(flavor, "t.")
            parts.append(f"WHEN NOT MATCHED BY SOURCE{scope} AND {live} THEN UPDATE SET {sets}")
        else:
            parts.append(f"WHEN NOT MATCHED BY SOURCE{scope} THEN DELETE")
    return " ".join(parts) + (";" if flavor.dialect == "tsql" else "")


def delete_changed_sql(
    table: str, source: str, columns, keys, flavor: Flavor, casts: Casts = None
) -> str:
    """Delete + insert merges, step 1: remove target rows that the source has with other values.
    The target is correlated by its full name: Synapse rejects joins and aliases in DELETE."""
    others = [c for c in columns if c not in keys]
    changed = f" AND {differs(table, 's', others, flavor, casts=casts)}" if others else " AND 1 = 0"
    return f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {source} AS s WHERE {key_match(keys, 's', table, flavor)}{changed})"


def insert_new_sql(
    table: str, source: str, columns, keys, flavor: Flavor, casts: Casts = None
) -> str:
    """Delete + insert merges, step 2: insert source rows whose key the target lacks."""
    return (
        f"INSERT INTO {table} ({_cols(None, columns, flavor)}) SELECT {_values('s', columns, flavor, casts)} FROM {source} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {key_match(keys, 't', 's', flavor)})"
    )


def delete_missing_sql(table: str, stage: str, keys, window: str | None, flavor: Flavor) -> str:
    """Delete target rows (in the window) whose key is absent from the staged source."""
    scope = f"{window} AND " if window else ""
    return f"DELETE FROM {table} WHERE {scope}NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {key_match(keys, 's', table, flavor)})"


def delete_flagged_sql(table: str, stage: str, keys, flavor: Flavor) -> str:
    """Change streams: hard-delete the target rows whose key the stream flags as deleted."""
    flagged = flavor.true(f"s.{quote(DELETED, flavor)}")
    return f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {stage} AS s WHERE {key_match(keys, 's', table, flavor)} AND {flagged})"


def _soft_mark(flavor: Flavor, prefix: str = "") -> tuple[str, str]:
    """(SET list that marks a row soft-deleted now, condition: the row is not marked yet)."""
    mark, at = quote(SOFT_DELETED, flavor), quote(DELETED_AT, flavor)
    sets = f"{prefix}{mark} = {flavor.boolean(True)}, {prefix}{at} = {flavor.now}"
    live = f"({prefix}{mark} = {flavor.boolean(False)} OR {prefix}{mark} IS NULL)"
    return sets, live


def soft_delete_flagged_sql(table: str, stage: str, keys, flavor: Flavor) -> str:
    """Change streams with soft deletes: mark flagged rows `_is_deleted` (and `_deleted_at`),
    keeping their values; rows marked already keep their first stamp."""
    flagged = flavor.true(f"s.{quote(DELETED, flavor)}")
    sets, live = _soft_mark(flavor)
    return (
        f"UPDATE {table} SET {sets} WHERE {live} AND EXISTS "
        f"(SELECT 1 FROM {stage} AS s WHERE {key_match(keys, 's', table, flavor)} AND {flagged})"
    )


def soft_delete_missing_sql(
    table: str, stage: str, keys, window: str | None, flavor: Flavor
) -> str:
    """Whole-source merges with soft deletes: mark target rows (in the window) whose key is
    absent from the staged source, keeping their values."""
    scope = f"{window} AND " if window else ""
    sets, live = _soft_mark(flavor)
    return (
        f"UPDATE {table} SET {sets} WHERE {scope}{live} AND NOT EXISTS "
        f"(SELECT 1 FROM {stage} AS s WHERE {key_match(keys, 's', table, flavor)})"
    )


# ----------------------------------------------------------------------------- sync state


def lock_resource(table_sql: str) -> str:
    """The writer lock's name for a target table (sp_getapplock keeps 255 characters)."""
    name = f"sync_assets:{table_sql}"
    if len(name) <= 255:
        return name
    return name[:190] + ":" + hashlib.sha256(name.encode()).hexdigest()  # 255 in all


def writer_lock_sql(flavor: Flavor) -> tuple[str, str] | None:
    """(try-lock, unlock) statements of the flavor's session lock, each binding the lock's
    name (lock_resource); the try-lock returns 1 when taken, 0 when another session holds
    it; it never waits (the caller polls up to its wait). None: the engine has no such lock."""
    if flavor.session_lock == "advisory":
        return (
            "SELECT pg_try_advisory_lock(hashtextextended(?, 0))",
            "SELECT pg_advisory_unlock(hashtextextended(?, 0))",
        )
    if flavor.session_lock == "applock":
        # owned by the session: held across the run's transactions, released on unlock or
        # when the connection ends (a killed run frees it)
        return (
            "SET NOCOUNT ON; DECLARE @taken INT; EXEC @taken = sp_getapplock @Resource = ?, "
            "@LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; "
            "SELECT CASE WHEN @taken >= 0 THEN 1 ELSE 0 END",
            "EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session'",
        )
    return None


def state_table(flavor: Flavor) -> str:
    return table_name(STATE_SCHEMA, STATE_TABLE, flavor)


def shared_ddl_lock_sql(flavor: Flavor) -> str | None:
    """A lock, held to the end of its transaction, around creating what several objects'
    writes share (the state table, a target schema): `CREATE ... IF NOT EXISTS` is not safe
    against itself on PostgreSQL or SQL Server (two sessions both find the schema missing and
    one fails on the catalog's unique index), which steps of one run running at once hit."""
    if flavor.session_lock == "advisory":
        return "SELECT pg_advisory_xact_lock(hashtextextended('sync_assets shared ddl', 0))"
    if flavor.session_lock == "applock":
        return (
            "EXEC sp_getapplock @Resource = N'sync_assets shared ddl', @LockMode = 'Exclusive', "
            "@LockOwner = 'Transaction'"
        )
    return None


def state_ddl(flavor: Flavor) -> list[str]:
    """Create the state table when missing (one row per object, state as JSON text)."""
    table = state_table(flavor)
    if flavor.dialect != "tsql":  # PostgreSQL, DuckDB, Snowflake
        return [
            create_schema_sql(STATE_SCHEMA, flavor),
            f"CREATE TABLE IF NOT EXISTS {table} (object_id VARCHAR PRIMARY KEY, target_table VARCHAR NOT NULL, "
            "state VARCHAR NOT NULL, updated_at timestamptz NOT NULL)",
        ]
    short, text = (
        ("VARCHAR(400)", "VARCHAR(MAX)")
        if flavor.text_type.startswith("VARCHAR")
        else ("NVARCHAR(400)", "NVARCHAR(MAX)")
    )
    columns = (
        f"[object_id] {short} NOT NULL, [target_table] {short} NOT NULL, [state] {text} NOT NULL, "
        "[updated_at] DATETIME2(6) NOT NULL"
    )
    return [
        create_schema_sql(STATE_SCHEMA, flavor),
        f"IF OBJECT_ID({string_literal(table, flavor)}, N'U') IS NULL CREATE TABLE {table} ({columns}){_with(flavor.staging_options)}",
    ]


def state_upsert_sql(flavor: Flavor) -> list[str]:
    """Replace the object's state row (binds: object_id; object_id, target_table, state)."""
    now = flavor.now
    table = state_table(flavor)
    return [
        f"DELETE FROM {table} WHERE {quote('object_id', flavor)} = ?",
        f"INSERT INTO {table} ({_cols(None, ['object_id', 'target_table', 'state', 'updated_at'], flavor)}) VALUES (?, ?, ?, {now})",
    ]


def state_claim_sql(flavor: Flavor) -> str:
    """Give an object that has no state row an empty one ('' reads as no state), so a
    later run has a row to lock (binds: object_id, target_table, object_id)."""
    table, q = state_table(flavor), (lambda c: quote(c, flavor))
    return (
        f"INSERT INTO {table} ({_cols(None, ['object_id', 'target_table', 'state', 'updated_at'], flavor)}) "
        f"SELECT ?, ?, '', {flavor.now} WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} WHERE {q('object_id')} = ?)"
    )


def state_lock_sql(flavor: Flavor) -> str:
    """Lock the object's state rows until COMMIT, waiting for a transaction that holds
    them (binds: object_id): a no-op UPDATE, as no engine here has SELECT FOR UPDATE on
    standard tables."""
    at = quote("updated_at", flavor)
    return f"UPDATE {state_table(flavor)} SET {at} = {at} WHERE {quote('object_id', flavor)} = ?"


def state_rows_sql(flavor: Flavor) -> str:
    """Every state text stored for the object, whatever table it names (binds: object_id)."""
    return (
        f"SELECT {quote('state', flavor)} FROM {state_table(flavor)} "
        f"WHERE {quote('object_id', flavor)} = ?"
    )


def state_select_sql(flavor: Flavor) -> str:
    """The object's state, only if written for this very table (binds: object_id, target_table)."""
    return (
        f"SELECT {quote('state', flavor)} FROM {state_table(flavor)} "
        f"WHERE {quote('object_id', flavor)} = ? AND {quote('target_table', flavor)} = ?"
    )


# ----------------------------------------------------------------------------- COPY INTO


def copy_into_sql(
    stage: str, url: str, columns: Sequence[str], flavor: Flavor, credential: str | None
) -> str:
    """Bulk-load staged Parquet files (a folder URL in ADLS / OneLake) into the staging table.

    `credential` is the COPY INTO CREDENTIAL clause body, e.g. "IDENTITY = 'Managed Identity'";
    None lets the service use the caller's Entra identity (Fabric) or the workspace identity.
    """
    cred = f", CREDENTIAL = ({credential})" if credential else ""
    return (
        f"COPY INTO {stage} ({_cols(None, columns, flavor)}) FROM {_plain(url)} "
        f"WITH (FILE_TYPE = 'PARQUET'{cred})"
    )


def _plain(text: str) -> str:
    """A non-Unicode string literal (COPY INTO takes a plain 'url')."""
    return "'" + text.replace("'", "''") + "'"
