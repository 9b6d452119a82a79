"""DuckDB connections with the settings every sync uses.

DuckDB defaults to 80% of the machine's memory and to keeping insertion order, which makes
large streamed copies buffer rows; a sync wants memory bounded by its batches instead.
"""

from __future__ import annotations

import os
import tempfile

import duckdb

from sync_assets.sql.literals import quote_string

MEMORY_ENV = "SYNC_ASSETS_DUCKDB_MEMORY"
DEFAULT_MEMORY = "512MB"


def connect(
    path: str = ":memory:",
    *,
    read_only: bool = False,
    timezone: str = "UTC",
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection whose time zone is fixed, memory capped (`memory_limit`, else
    $SYNC_ASSETS_DUCKDB_MEMORY, else 512MB), and spill folder private."""
    con = duckdb.connect(path, read_only=read_only)
    spill = os.path.join(tempfile.gettempdir(), "sync_assets_duckdb")
    con.execute(f"SET TimeZone = {quote_string(timezone)}")
    memory_limit = memory_limit or os.environ.get(MEMORY_ENV, DEFAULT_MEMORY)
    con.execute(f"SET memory_limit = {quote_string(memory_limit)}")
    con.execute(f"SET temp_directory = {quote_string(spill)}")
    # row order carries no meaning in a sync; without it DuckDB streams instead of buffering
    con.execute("SET preserve_insertion_order = false")
    return con


def first_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple | None:
    """The first row of a small query, its result fetched to the end: DuckDB refuses other
    work on a connection beside an unfinished result."""
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else None
