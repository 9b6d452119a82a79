"""Hash strategy (`sync_type: hash`): compare a hash of each row's chosen columns, by key,
with the hash stored beside the row in the target, and write exactly the rows that differ.

One run, in one source session:
1. keys + hashes of the source (in the partition window): computed inside the source engine
   when `row_hash.py` spells the encoding in its SQL for every hashed column (DuckDB, and
   PostgreSQL for its common types); otherwise the keys and hashed columns are streamed and
   hashed by DuckDB in the sync process;
2. keys + stored hashes of the target (same window; soft-deleted rows count as absent);
3. a full outer join by key, in a local DuckDB (memory capped, spilling to disk), gives the
   new keys, the keys whose hash differs and (unless `delete_missing: false`) the keys gone
   from the source; no change at all is a skip;
4. the rows of the new and changed keys are read again from the source (a key list pushed
   into the source query up to a limit per engine, a semi-join in the sync process beyond), with
   their hash, and the gone keys are appended flagged as deleted.
The target applies that change stream as a merge with deletes (or soft deletes), the same
statements Change Tracking and CDF use, so unchanged rows never reach the target and the
write side costs what the change costs. Compound keys are compared column by column.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from sync_assets import duck
from sync_assets.columns import DELETED_FLAG, SOFT_DELETE_COLUMN
from sync_assets.row_hash import ENCODING, hashed_columns, native_hash, renders, row_hash
from sync_assets.sql.literals import quote_ident
from sync_assets.sql.select import keys_in
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.streams import closing
from sync_assets.targets.base import WritePlan

# md5 of the canonical text is computed inside these sources; PostgreSQL spells it too
# (row_hash.py), but its text functions make that ~5x slower than streaming the columns and
# hashing them here (5M rows: 36 s against ~8 s), so PostgreSQL hashes in SQL only natively
MD5_IN_SOURCE = ("duckdb",)
# a change set up to this many keys is read back with the keys in the source query: engines
# that hash long IN lists (PostgreSQL 14+, DuckDB) take far more than the others
KEY_LIST_LIMIT = 2_000
LONG_KEY_LIST_LIMIT = 250_000
LONG_KEY_LISTS = ("postgres", "duckdb")
HASH = "__sync_h"
SEEN = "__sync_seen"


def plan(p: Planner) -> SyncBatch:
    obj = p.obj
    select = p.select([])
    schema = p.session.schema(select)
    keys = list(obj.merge_keys)
    missing = [k for k in keys if k not in schema.names]
    if missing:
        raise ValueError(f"field 'merge_keys': {missing} are not columns of the synced rows")
    columns = hashed_columns(schema, keys, obj.hash_columns, obj.exclude_columns, [obj.hash_key])
    in_source_hash, encoding = source_hash(obj.hash_algo, columns, schema, p.dialect)
    con = duck.connect()
    try:
        # the target's hashes are read on a second connection while the source computes its
        # own: two servers (or the source and this process) work at once
        cursor = con.cursor()
        try:
            with ThreadPoolExecutor(1) as pool:
                target_side = pool.submit(_load_target_hashes, p, cursor, schema, keys)
                _load_source_hashes(p, con, select, schema, keys, columns, in_source_hash)
                target_side.result()
        finally:
            cursor.close()
        inserts, updates, deletes, rows = _diff(con, keys, obj.deletes_missing)
        notes = {
            "sync/hash_columns": ", ".join(columns),
            "sync/hash_computed_in": "source" if in_source_hash else "sync process",
            "sync/hash_encoding": encoding,
            "sync/rows_unchanged": rows - inserts - updates,
        }
        if not (inserts or updates or deletes):
            con.close()
            batch = p.skip("no row changed since the last sync (every hash matches)")
            batch.notes.update(notes)
            return batch
        reader, sql = _changes(
            p, con, select, schema, keys, columns, in_source_hash, inserts + updates
        )
    except BaseException:
        con.close()
        raise
    write = WritePlan(
        "merge", tuple(keys), deletes=True, soft_delete=obj.soft_delete, window=p.target_window()
    )
    batch = SyncBatch(obj.object_id, write, p.state, reader, source_sql=sql)
    batch.full_resync = rows == inserts
    batch.notes.update(notes)
    return batch


def _names(columns) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def source_hash(algo: str, columns, schema: pa.Schema, dialect: str) -> tuple[str | None, str]:
    """(the hash as an expression of the source's SQL, or None: hashed in the sync process;
    what the hash is, for metadata)."""
    if algo == "native":
        native = native_hash(columns, dialect)
        if native:
            return native, f"native ({dialect}'s own 64-bit row hash)"
    canonical = f"md5 of the canonical row text {ENCODING}"
    if algo == "native":
        canonical += f" ({dialect} has no native row hash here)"
    in_source = dialect in MD5_IN_SOURCE and renders(columns, schema, dialect)
    return (row_hash(columns, schema, dialect) if in_source else None), canonical


def source_hashes_sql(select: str, keys, columns, hashed: str | None) -> str:
    """Step 1's source query: keys and the row hash `hashed` (computed in the source), or
    keys and the hashed columns (hashed in the sync process)."""
    if hashed:
        return f"SELECT {_names(keys)}, {hashed} AS {HASH} FROM ({select}) q"
    return f"SELECT {_names(dict.fromkeys(list(keys) + list(columns)))} FROM ({select}) q"


def changed_rows_sql(select: str, hash_key: str, listed: str | None, hashed: str | None) -> str:
    """Step 4's source query: the synced rows (with their hash when computed in the source),
    only those whose key is `listed` when a key-list predicate is given."""
    extra = f", {hashed} AS {quote_ident(hash_key)}" if hashed else ""
    where = f" WHERE {listed}" if listed else ""
    return f"SELECT q.*{extra} FROM ({select}) q{where}"


def _load_source_hashes(p: Planner, con, select, schema, keys, columns, in_source_hash) -> None:
    """Table `src` (keys, HASH) of the source rows in the run's window."""
    sql = source_hashes_sql(select, keys, columns, in_source_hash)
    reader = p.session.stream(sql, p.obj.batch_size)
    con.register("src_in", reader)
    hashed = quote_ident(HASH) if in_source_hash else row_hash(columns, reader.schema)
    con.execute(f"CREATE TABLE src AS SELECT {_names(keys)}, {_compact(hashed)} FROM src_in")
    con.unregister("src_in")
    nulls = " OR ".join(f"{quote_ident(k)} IS NULL" for k in keys)
    distinct = quote_ident(keys[0]) if len(keys) == 1 else f"({_names(keys)})"
    n_null, n_dupes = duck.first_row(
        con,
        f"SELECT count(*) FILTER (WHERE {nulls}), count(*) - count(DISTINCT {distinct}) FROM src",
    )
    if n_null:
        raise ValueError(
            f"merge_keys {keys}: {n_null} source rows of this run have a NULL key; a hash sync "
            "matches rows by key, so every key column must have a value"
        )
    dupes = n_dupes and duck.first_row(
        con, f"SELECT {_names(keys)}, count(*) FROM src GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    )
    if dupes:
        raise ValueError(
            f"merge_keys {keys} are not unique in the source rows of this run "
            f"(e.g. {tuple(dupes[:-1])} appears {dupes[-1]} times)"
        )


def _compact(hash_text: str) -> str:
    """The stored hash text as DuckDB's 64-bit hash of it, for the comparison only: 8 bytes a
    row instead of up to 32 characters keeps 5M-row diffs in memory (a changed row escapes
    only if two 64-bit hashes collide)."""
    return f"hash({hash_text}) AS {HASH}"


def _load_target_hashes(p: Planner, con, schema: pa.Schema, keys) -> None:
    """Table `tgt` (keys, HASH) of the live target rows in the run's window; a table that
    does not exist yet, or lacks the hash column, has no hashes to match."""
    hash_key = p.obj.hash_key
    # a full refresh compares with no stored hashes: every row is written again
    existing = p.target.arrow_schema() if p.target is not None and not p.full_refresh else None
    if existing is None:
        fields = [schema.field(k) for k in keys] + [pa.field(HASH, pa.uint64())]
        con.register("tgt_in", pa.table({f.name: pa.array([], f.type) for f in fields}))
        con.execute("CREATE TABLE tgt AS SELECT * FROM tgt_in")
        con.unregister("tgt_in")
        return
    flags = (hash_key, SOFT_DELETE_COLUMN, p.obj.scd.is_current)
    wanted = keys + [c for c in flags if c in existing.names]
    con.register("tgt_in", p.target.read(p.target_window(), wanted))
    stored = quote_ident(hash_key) if hash_key in existing.names else "CAST(NULL AS VARCHAR)"
    where = ""
    if SOFT_DELETE_COLUMN in existing.names:
        where = f" WHERE {quote_ident(SOFT_DELETE_COLUMN)} IS NOT TRUE"
    elif p.obj.scd_type == 2 and p.obj.scd.is_current in existing.names:
        where = f" WHERE {quote_ident(p.obj.scd.is_current)} IS TRUE"  # current versions
    con.execute(f"CREATE TABLE tgt AS SELECT {_names(keys)}, {_compact(stored)} FROM tgt_in{where}")
    con.unregister("tgt_in")


def _diff(con, keys, deletes_missing: bool) -> tuple[int, int, int, int]:
    """Table `diff` (keys, kind: I new, U changed, D gone); (inserts, updates, deletes, rows)."""
    match = " AND ".join(f"s.{quote_ident(k)} = t.{quote_ident(k)}" for k in keys)
    picked = ", ".join(
        f"CASE WHEN s.{SEEN} THEN s.{quote_ident(k)} ELSE t.{quote_ident(k)} END AS {quote_ident(k)}"
        for k in keys
    )
    con.execute(
        f"""CREATE TABLE diff AS SELECT {picked},
            CASE WHEN t.{SEEN} IS NULL THEN 'I' WHEN s.{SEEN} IS NULL THEN 'D' ELSE 'U' END AS kind
        FROM (SELECT *, TRUE AS {SEEN} FROM src) s
        FULL OUTER JOIN (SELECT *, TRUE AS {SEEN} FROM tgt) t ON {match}
        WHERE s.{SEEN} IS NULL OR t.{SEEN} IS NULL OR s.{HASH} IS DISTINCT FROM t.{HASH}"""
    )
    if not deletes_missing:
        con.execute("DELETE FROM diff WHERE kind = 'D'")
    counts = duck.first_row(
        con,
        "SELECT count(*) FILTER (kind = 'I'), count(*) FILTER (kind = 'U'), "
        "count(*) FILTER (kind = 'D'), (SELECT count(*) FROM src) FROM diff",
    )
    return tuple(int(c) for c in counts)


def _changes(p: Planner, con, select, schema, keys, columns, in_source_hash, upserts: int):
    """The change stream: rows of new and changed keys with their hash, then gone keys."""
    hash_key = quote_ident(p.obj.hash_key)
    listed = None
    limit = LONG_KEY_LIST_LIMIT if p.dialect in LONG_KEY_LISTS else KEY_LIST_LIMIT
    if upserts <= limit:
        wanted = con.sql(f"SELECT {_names(keys)} FROM diff WHERE kind <> 'D'").to_arrow_table()
        listed = keys_in(keys, [schema.field(k).type for k in keys], wanted, p.dialect)
    sql = changed_rows_sql(select, p.obj.hash_key, listed, in_source_hash)
    reader = p.session.stream(sql, p.obj.batch_size)
    con.register("rows_in", reader)
    hashed = "" if in_source_hash else f", {row_hash(columns, reader.schema)} AS {hash_key}"
    semi = ""
    if listed is None:
        match = " AND ".join(f"s.{quote_ident(k)} = c.{quote_ident(k)}" for k in keys)
        semi = f" SEMI JOIN (SELECT * FROM diff WHERE kind <> 'D') c ON {match}"
    rows = con.sql(
        f"SELECT s.*{hashed}, FALSE AS {quote_ident(DELETED_FLAG)} FROM rows_in s{semi}"
    ).to_arrow_reader(p.obj.batch_size)
    # the source's own Arrow types (DuckDB's round trip may pick others), the hash, the flag
    carried = [f for f in reader.schema if f.name != p.obj.hash_key]
    out = pa.schema(
        carried + [pa.field(p.obj.hash_key, pa.string()), pa.field(DELETED_FLAG, pa.bool_())]
    )
    stream = pa.RecordBatchReader.from_batches(out, _then_deletes(con, rows, out, keys))
    return closing(stream, con.close), sql


def _then_deletes(con, rows, schema: pa.Schema, keys) -> Iterator[pa.RecordBatch]:
    """The upserted rows, then one flagged row per gone key (values NULL, like a change
    stream's deletes)."""
    for batch in rows:
        yield batch.cast(schema)
    gone = con.sql(f"SELECT {_names(keys)} FROM diff WHERE kind = 'D'").to_arrow_reader(100_000)
    for batch in gone:
        n = batch.num_rows
        arrays = []
        for f in schema:
            if f.name in keys:
                arrays.append(batch.column(batch.schema.get_field_index(f.name)).cast(f.type))
            elif f.name == DELETED_FLAG:
                arrays.append(pa.array([True] * n, pa.bool_()))
            else:
                arrays.append(pa.nulls(n, f.type))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
