"""What a merge changes, counted by DuckDB: the target's rows are the relation `old` (alias o),
the incoming rows the relation `src` (alias s). The Parquet target counts its rewrites with
these, the Delta target its soft deletes and its dry runs (delta-rs reports soft deletes among
updates, and a dry run has no commit to report anything)."""

from __future__ import annotations

from sync_assets import duck
from sync_assets.columns import DELETED_FLAG, SOFT_DELETE_COLUMN
from sync_assets.sql.flavors import DUCKDB
from sync_assets.sql.literals import quote_ident
from sync_assets.sql.statements import differs, key_match


def _count(con, sql: str) -> int:
    return int(duck.first_row(con, sql)[0])


def count_rows(con, relation: str) -> int:
    return _count(con, f"SELECT count(*) FROM {relation}")


def live(src: str, flagged: bool) -> str:
    """The rows of `src` that are written (a change stream's flagged rows only delete)."""
    return f"(SELECT * FROM {src} WHERE NOT {quote_ident(DELETED_FLAG)})" if flagged else src


def alive(known, soft_delete: bool) -> str:
    """Old row o is not soft-deleted already (rows written before soft deletes are live)."""
    if not soft_delete or SOFT_DELETE_COLUMN not in known:
        return "TRUE"
    return f"o.{quote_ident(SOFT_DELETE_COLUMN)} IS NOT TRUE"


def upserts(con, src: str, old: str, keys, others, known, *, update: bool) -> tuple[int, int]:
    """(rows of `src` whose key `old` lacks, rows whose key it has with other values)."""
    new = f"o.{quote_ident(keys[0])} IS NULL"
    changed = differs("o", "s", others, DUCKDB, known=known)
    inserted, updated = con.execute(
        f"SELECT count(*) FILTER (WHERE {new}), count(*) FILTER (WHERE NOT ({new}) AND {changed}) "
        f"FROM {src} AS s LEFT JOIN {old} AS o ON {key_match(keys, 'o', 's', DUCKDB)}"
    ).fetchall()[0]
    return int(inserted), int(updated) if update else 0


def flagged_deletes(con, src: str, old: str, keys, condition: str = "TRUE") -> int:
    """Old rows (meeting `condition`) whose key the change stream `src` flags as deleted."""
    flagged = f"s.{quote_ident(DELETED_FLAG)}"
    match = key_match(keys, "o", "s", DUCKDB)
    return _count(
        con,
        f"SELECT count(*) FROM {old} AS o WHERE EXISTS "
        f"(SELECT 1 FROM {src} AS s WHERE {match} AND {flagged}) AND {condition}",
    )


def missing(con, src: str, old: str, keys, condition: str = "TRUE") -> int:
    """Old rows (meeting `condition`: the window, not deleted already) whose key `src` lacks."""
    match = key_match(keys, "o", "s", DUCKDB)
    return _count(
        con,
        f"SELECT count(*) FROM {old} AS o WHERE {condition} AND NOT EXISTS "
        f"(SELECT 1 FROM {src} AS s WHERE {match})",
    )
