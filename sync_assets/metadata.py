"""Materialization metadata: Dagster's standard keys plus namespaced `sync/*` keys.

This replaces the run-log tables of the source documents: every materialization says what
was read and written, the watermark, and how long it took.
"""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from sync_assets import memory
from sync_assets.config.models import SyncObject
from sync_assets.sql.literals import to_json_value
from sync_assets.strategies.planner import SyncBatch
from sync_assets.targets.base import Target, WriteResult


def column_schema(
    schema: pa.Schema | None, sql_types: dict[str, str] | None = None
) -> dg.TableSchema | None:
    """Each column with the target's own type (DECIMAL(12,2), NVARCHAR, TIMESTAMP_TZ…) where
    it has one, and the Arrow type it is read back as."""
    if schema is None:
        return None
    sql_types = sql_types or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=f.name,
                type=sql_types.get(f.name, str(f.type)),
                description=f"Arrow type: {f.type}",
            )
            for f in schema
        ]
    )


def write_metadata(
    obj: SyncObject,
    target: Target,
    batch: SyncBatch,
    result: WriteResult,
    rows_read: int,
    write_seconds: float,
    partition_count: int,
) -> dict:
    """Everything recorded on one materialization."""
    meta: dict = {
        "dagster/uri": target.uri,
        "sync/object_id": obj.object_id,
        "sync/sync_type": obj.sync_type,
        "sync/write_mode": batch.plan.mode if batch.reader is not None else "none",
        "sync/rows_read": rows_read,
        "sync/rows_inserted": result.rows_inserted,
        "sync/rows_updated": result.rows_updated,
        "sync/rows_deleted": result.rows_deleted,
        "sync/duration_s": round(batch.elapsed() + write_seconds, 3),
        "sync/write_s": round(write_seconds, 3),
    }
    if obj.on_bad_rows == "quarantine":
        rejected = batch.bad_rows.rejected if batch.bad_rows else 0
        meta["sync/rows_rejected"] = rejected
        if batch.bad_rows and batch.bad_rows.path:
            meta["sync/rejects_path"] = dg.MetadataValue.path(str(batch.bad_rows.path))
    peak = memory.peak()
    if peak is not None and batch.rss_start_mb is not None:
        meta["sync/peak_rss_mb"] = round(peak, 1)
        meta["sync/rss_growth_mb"] = round(peak - batch.rss_start_mb, 1)
    if result.row_count is not None:
        # One metadata set is shared by every partition of a range run, so a count over a
        # range gets its own key rather than passing as one partition's count.
        key = {0: "dagster/row_count", 1: "dagster/partition_row_count"}.get(
            partition_count, "sync/range_row_count"
        )
        meta[key] = dg.MetadataValue.int(int(result.row_count))
    schema = column_schema(result.schema, result.sql_types)
    if schema is not None:
        meta["dagster/column_schema"] = dg.MetadataValue.table_schema(schema)
    watermark = batch.latest_watermark()
    if watermark is not None:
        meta["sync/watermark"] = str(to_json_value(watermark))
    if batch.skip_reason:
        meta["sync/skipped"] = batch.skip_reason
    if batch.full_resync:
        meta["sync/initial_load"] = True
    if batch.strategy:
        meta["sync/strategy"] = batch.strategy
    if batch.plan.dry_run:
        meta["sync/dry_run"] = True  # counts are what the run would do; nothing was written
    if result.ddl:
        meta["sync/ddl"] = dg.MetadataValue.md("```sql\n" + ";\n".join(result.ddl) + ";\n```")
    meta.update(batch.notes)
    meta.update(result.extra)
    if batch.source_sql:
        meta["sync/source_sql"] = dg.MetadataValue.md(f"```sql\n{batch.source_sql}\n```")
    return meta
