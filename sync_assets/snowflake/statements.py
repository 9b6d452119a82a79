"""Statements only Snowflake runs: its catalog query, the stage PUT and COPY INTO. Everything
else Snowflake runs comes from `sql/statements.py` with the Snowflake flavor."""

from __future__ import annotations

from pathlib import Path

STAGE = '"_sync_assets"."sync_stage"'


def catalog_sql() -> str:
    """Columns of one table (binds: schema, table), in order."""
    return (
        "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
    )


def put_sql(path: Path, prefix: str) -> str:
    """Upload one local Parquet file to the temporary stage (uncompressed: Parquet is)."""
    return f"PUT 'file://{path}' @{STAGE}/{prefix} AUTO_COMPRESS = FALSE OVERWRITE = TRUE"


def copy_into_sql(stage_table: str, prefix: str) -> str:
    """Load the staged Parquet files by column name, exactly: the staging table's columns are
    created with the Parquet files' own names (quoted), and a case-insensitive match would
    confuse "a" with "A" (and folds only ASCII letters on some engines)."""
    return (
        f"COPY INTO {stage_table} FROM @{STAGE}/{prefix}/ FILE_FORMAT = (TYPE = PARQUET) "
        "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE"
    )
