"""Asset checks of a sync object: row-count parity and a checksum over chosen columns,
comparing the source (as it is when the check runs) with the target, for the run's partition.

Both sides are reduced by DuckDB over Arrow streams with the canonical row text of
`row_hash.py` (the one `sync_type: hash` hashes), so the same rows give the same checksum
whatever engines hold them: the sum of
md5_number_lower(row text) over the rows, with the row count. Rows soft-deleted in the target
are not counted, and of an SCD2 table only the current versions. Watermark syncs compare the source up to the watermark the run stored (rows
that arrived after it are the next run's).
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from sync_assets import duck
from sync_assets.columns import SOFT_DELETE_COLUMN
from sync_assets.config.models import SyncObject
from sync_assets.row_hash import row_text
from sync_assets.sources.base import Source
from sync_assets.sql.literals import from_json_value, quote_ident
from sync_assets.sql.select import Bounds
from sync_assets.state import SyncState
from sync_assets.strategies.planner import Planner, Window
from sync_assets.targets.base import Target, TargetWindow

SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


def check_specs(obj: SyncObject, key: dg.AssetKey, partitions_def) -> list[dg.AssetCheckSpec]:
    """The checks an object declares (`checks:`), for its asset's Checks tab."""
    spec = obj.checks
    if spec is None:
        return []
    wanted = {
        "row_count": spec.row_count
        and "The target holds as many rows as the source (in the partition).",
        "checksum": spec.checksum
        and f"Source and target agree on the values of {', '.join(spec.checksum)}.",
    }
    return [
        dg.AssetCheckSpec(
            name, asset=key, blocking=spec.blocking, partitions_def=partitions_def, description=text
        )
        for name, text in wanted.items()
        if text
    ]


def reduce(
    reader: pa.RecordBatchReader,
    columns: list[str],
    live_only: bool = False,
    current: str | None = None,
) -> tuple[int, str | None]:
    """(rows, checksum of `columns`) of a stream, in DuckDB; soft-deleted rows left out, and
    with `current` (an SCD2 table's is_current column) only the current versions counted."""
    missing = [c for c in columns if c not in reader.schema.names]
    if missing:
        raise ValueError(f"checksum columns {missing} are not in the table")
    con = duck.connect()
    try:
        con.register("t", reader)
        where = ""
        if live_only and SOFT_DELETE_COLUMN in reader.schema.names:
            where = f" WHERE {quote_ident(SOFT_DELETE_COLUMN)} IS NOT TRUE"
        if current and current in reader.schema.names:
            where = f" WHERE {quote_ident(current)} IS TRUE"
        checksum = (
            f"CAST(sum(md5_number_lower({row_text(columns, reader.schema, nested=False)})) AS VARCHAR)"
            if columns
            else "NULL"
        )
        rows, total = con.execute(f"SELECT count(*), {checksum} FROM t{where}").fetchone()
        return int(rows), total
    finally:
        con.close()


def source_rows_sql(obj: SyncObject, planner: Planner, watermark) -> str:
    """The source rows the target should hold: the window, up to the stored watermark."""
    bounds = []
    if obj.sync_column and watermark is not None and obj.sync_type not in ("full",):
        typ = planner.types[obj.sync_column]
        bounds.append(
            Bounds(obj.sync_column, typ, None, from_json_value(watermark, typ), include_nulls=True)
        )
    return planner.select(bounds)


def run_checks(
    obj: SyncObject,
    source: Source,
    target: Target,
    window: Window | None,
    target_window: TargetWindow | None,
    watermark,
) -> Iterator[dg.AssetCheckResult]:
    """Compare source and target as the object's `checks:` say."""
    spec = obj.checks
    columns = list(spec.checksum)
    with source.session(obj.source) as session:
        planner = Planner(obj, source, session, SyncState(), window)
        sql = source_rows_sql(obj, planner, watermark)
        src_rows, src_sum = reduce(session.stream(sql, obj.batch_size), columns)
    live_only = obj.soft_delete
    current = obj.scd.is_current if obj.scd_type == 2 else None
    if columns or live_only or current:
        tgt_rows, tgt_sum = reduce(
            target.read(target_window), columns, live_only=live_only, current=current
        )
    else:
        tgt_rows, tgt_sum = target.count_rows(target_window) or 0, None
    severity = SEVERITY[spec.severity]
    if spec.row_count:
        yield dg.AssetCheckResult(
            check_name="row_count",
            passed=src_rows == tgt_rows,
            severity=severity,
            metadata={
                "source_rows": src_rows,
                "target_rows": tgt_rows,
                "difference": tgt_rows - src_rows,
            },
        )
    if columns:
        yield dg.AssetCheckResult(
            check_name="checksum",
            passed=src_sum == tgt_sum,
            severity=severity,
            metadata={
                "columns": ", ".join(columns),
                "source_checksum": str(src_sum),
                "target_checksum": str(tgt_sum),
                "rows_compared": src_rows,
            },
        )
