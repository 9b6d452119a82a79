"""Every statement the ODBC writer (and the Change Tracking reader) would run for one
representative object, rendered per flavor: the golden files hold these texts."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sync_assets.sql import statements as sql
from sync_assets.sql.flavors import Flavor
from sync_assets.sql.select import Bounds, keys_in, probe_sql, select_sql
from sync_assets.strategies import change_tracking as ct
from sync_assets.strategies import hash_diff
from sync_assets.targets.base import TargetWindow
from sync_assets.tsql.types import sql_type as tsql_sql_type
from sync_assets.types import duckdb_type

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("line", pa.int16()),
        ("note", pa.string()),
        ("amount", pa.decimal128(12, 2)),
        ("paid", pa.bool_()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("tags", pa.list_(pa.string())),
    ]
)
KEYS = ["id", "line"]
WINDOW = TargetWindow(
    "day",
    dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
    dt.datetime(2025, 3, 2, tzinfo=dt.UTC),
    ("2025-03-01",),
    "daily",
)


def sql_type(t: pa.DataType, flavor: Flavor) -> str:
    return duckdb_type(t) if flavor.dialect == "duckdb" else tsql_sql_type(t, flavor)


def _lock(flavor: Flavor) -> list[tuple[str, str]]:
    statements = sql.writer_lock_sql(flavor)
    return list(zip(("take", "release"), statements, strict=True)) if statements else []


def script(flavor: Flavor) -> list[tuple[str, str]]:
    """(label, statement) pairs in the order a merge run issues them, plus the variants.
    DuckDB stages the stream's own types, so its statements cast staged values."""
    table = sql.table_name("sales", "orders", flavor)
    stage = sql.staging_table("orders", flavor)
    columns = [(f.name, sql_type(f.type, flavor)) for f in SCHEMA]
    names = SCHEMA.names
    casts = dict(columns) if flavor.dialect == "duckdb" else None
    window = WINDOW.bounds(pa.date32()).predicate(flavor.dialect)
    source = sql.upsert_source(stage, True, flavor)
    out = [("state table", s) for s in sql.state_ddl(flavor)]
    out += [
        ("target schema", sql.create_schema_sql("sales", flavor)),
        ("create target", sql.create_table_sql(table, columns, flavor)),
        ("add column", sql.add_column_sql(table, "channel", sql_type(pa.string(), flavor), flavor)),
        ("drop stale staging", sql.drop_staging_sql(stage, flavor)),
        (
            "create staging",
            sql.create_staging_sql(
                stage, columns + [("__sync_deleted", sql_type(pa.bool_(), flavor))], flavor
            ),
        ),
        (
            "bulk insert (fast_executemany)",
            sql.insert_values_sql(stage, names + ["__sync_deleted"], flavor),
        ),
        ("replace: delete window", sql.delete_window_sql(table, window)),
        ("replace/append: insert", sql.insert_select_sql(table, stage, names, flavor, casts)),
        ("merge: duplicate keys", sql.duplicate_keys_sql(stage, KEYS, flavor)),
        ("changes: hard deletes", sql.delete_flagged_sql(table, stage, KEYS, flavor)),
        ("changes: soft deletes", sql.soft_delete_flagged_sql(table, stage, KEYS, flavor)),
        (
            "merge: counts",
            sql.merge_counts_sql(table, source, names, KEYS, flavor, update=True, casts=casts),
        ),
    ]
    if flavor.capture_changes:
        out.append(
            (
                "merge: capture changes",
                sql.capture_changes_sql(
                    sql.CHANGED, table, source, names, KEYS, flavor, update=True, casts=casts
                ),
            )
        )
        out.append(("merge: captured counts", sql.captured_counts_sql(sql.CHANGED)))
    if flavor.has_merge:
        out.append(
            (
                "merge",
                sql.merge_sql(
                    table,
                    source,
                    names,
                    KEYS,
                    flavor,
                    update=True,
                    delete_missing=True,
                    window=window,
                    casts=casts,
                ),
            )
        )
        out.append(
            (
                "merge, insert-only keys",
                sql.merge_sql(
                    table,
                    stage,
                    names,
                    KEYS,
                    flavor,
                    update=False,
                    delete_missing=False,
                    window=None,
                    casts=casts,
                ),
            )
        )
    if flavor.has_merge and flavor.merge_by_source:
        out.append(
            (
                "merge, soft deletes of missing keys",
                sql.merge_sql(
                    table,
                    source,
                    names,
                    KEYS,
                    flavor,
                    update=True,
                    delete_missing=True,
                    window=window,
                    casts=casts,
                    soft_delete=True,
                ),
            )
        )
    out.append(
        (
            "merge: soft delete missing in window",
            sql.soft_delete_missing_sql(table, stage, KEYS, window, flavor),
        )
    )
    if not flavor.has_merge or flavor.dialect == "postgres":
        out.append(
            (
                "merge: delete missing in window",
                sql.delete_missing_sql(table, stage, KEYS, window, flavor),
            )
        )
    if not flavor.has_merge:
        out.append(
            ("merge: delete changed", sql.delete_changed_sql(table, source, names, KEYS, flavor))
        )
        out.append(("merge: insert new", sql.insert_new_sql(table, source, names, KEYS, flavor)))
    out += [
        ("row count", sql.count_sql(table, window, flavor)),
        *([("catalog", sql.table_columns_sql(flavor))] if flavor.dialect != "snowflake" else []),
        *[("state upsert", s) for s in sql.state_upsert_sql(flavor)],
        ("state read", sql.state_select_sql(flavor)),
        *[(f"writer lock: {what}", text) for what, text in _lock(flavor)],
    ]
    if flavor.copy_into and flavor.dialect == "tsql":
        out.append(
            (
                "COPY INTO staging",
                sql.copy_into_sql(
                    stage,
                    "https://acct.dfs.core.windows.net/staging/orders/run/*.parquet",
                    names,
                    flavor,
                    "IDENTITY = 'Managed Identity'",
                ),
            )
        )
    if flavor.dialect == "tsql":  # reading a T-SQL source: one partition, beyond the watermark
        day = WINDOW.bounds(pa.date32())
        mark = Bounds(
            "updated_at",
            pa.timestamp("us"),
            dt.datetime(2025, 3, 1, 12),
            dt.datetime(2025, 3, 1, 18),
        )
        read = select_sql(
            '"sales"."orders"',
            {"id": "id", "UPPER(note)": "note", "updated_at": "updated_at"},
            "status <> N'test'",
            [day, mark],
            "tsql",
        )
        out += [
            (
                "source: probe",
                probe_sql(
                    select_sql('"sales"."orders"', None, "status <> N'test'", [day], "tsql"),
                    "updated_at",
                    "tsql",
                    fingerprint=True,
                ),
            ),
            ("source: read", read),
        ] + hash_reads("tsql")
    if flavor.name == "sqlserver":
        ct_table = sql.table_name("sales", "orders", flavor)
        out += [
            ("change tracking: versions", ct.versions_sql(ct_table)),
            (
                "change tracking: changes",
                "SELECT * FROM " + ct.changes_relation(ct_table, names, KEYS, 42),
            ),
            ("change tracking: full load", "SELECT * FROM " + ct.full_relation(ct_table)),
        ]
    return out


def hash_reads(dialect: str) -> list[tuple[str, str]]:
    """The source queries of a hash sync hashed in the sync process (every source but
    DuckDB): keys + hashed columns, then the changed rows by a compound-key list."""
    select = select_sql('"sales"."orders"', None, None, [], dialect)
    columns = ["note", "amount", "paid"]
    changed = pa.table({"id": [7, 8], "line": [1, 2]})
    listed = keys_in(KEYS, [SCHEMA.field(k).type for k in KEYS], changed, dialect)
    return [
        (
            "hash: source keys and hashed columns",
            hash_diff.source_hashes_sql(select, KEYS, columns, None),
        ),
        (
            "hash: changed rows by key",
            hash_diff.changed_rows_sql(select, "_sync_hash", listed, None),
        ),
    ]


def render(flavor: Flavor) -> str:
    return "".join(f"-- {label}\n{statement};\n\n" for label, statement in script(flavor)).replace(
        ";;", ";"
    )
