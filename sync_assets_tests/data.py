"""The source table the sync tests use, and deterministic changes to it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from sync_assets_tests.harness import Project, duck, duck_table

COLUMNS = "id, name, amount, flag, day, day_str, ts, updated_at, payload"


def create_items(path: Path, n: int = 300) -> None:
    """items: n rows over 10 days; every type the targets must carry exactly."""
    duck(
        path,
        f"""
        CREATE TABLE items AS SELECT
            i::BIGINT AS id,
            'item ' || i AS name,
            (i * 1.25)::DECIMAL(12,2) AS amount,
            i % 2 = 0 AS flag,
            DATE '2025-03-01' + (i % 10)::INTEGER AS day,
            strftime(DATE '2025-03-01' + (i % 10)::INTEGER, '%Y-%m-%d') AS day_str,
            TIMESTAMPTZ '2025-03-01 00:00:00+00' + to_days((i % 10)::INTEGER) + to_minutes(i::BIGINT) AS ts,
            TIMESTAMP '2025-03-01 00:00:00' + to_seconds(i::BIGINT) AS updated_at,
            ('bin' || i)::BLOB AS payload
        FROM range(1, {n} + 1) r(i)""",
    )


def insert_items(path: Path, first: int, count: int, stamp: str = "2025-04-01 00:00:00") -> None:
    duck(
        path,
        f"""
        INSERT INTO items SELECT
            i, 'new ' || i, (i * 2.5)::DECIMAL(12,2), TRUE, DATE '2025-03-01' + (i % 10)::INTEGER,
            strftime(DATE '2025-03-01' + (i % 10)::INTEGER, '%Y-%m-%d'),
            TIMESTAMPTZ '2025-03-01 00:00:00+00' + to_days((i % 10)::INTEGER) + to_minutes(i::BIGINT),
            TIMESTAMP '{stamp}' + to_seconds(i::BIGINT), ('new' || i)::BLOB
        FROM range({first}, {first + count}) r(i)""",
    )


def update_items(path: Path, where: str, stamp: str = "2025-05-01 00:00:00") -> None:
    duck(
        path,
        f"UPDATE items SET name = name || ' (updated)', amount = amount + 1, updated_at = TIMESTAMP '{stamp}' WHERE {where}",
    )


def delete_items(path: Path, where: str) -> None:
    duck(path, f"DELETE FROM items WHERE {where}")


def source_rows(path: Path, where: str = "TRUE") -> pa.Table:
    return duck_table(path, f"SELECT {COLUMNS} FROM items WHERE {where}")


def items_project(
    tmp_path: Path, target_conn: dict, rows: int = 300, **obj
) -> tuple[Project, Path]:
    """A project syncing a fresh `items` source (object `items_sync` unless overridden)."""
    src = tmp_path / "source.duckdb"
    create_items(src, rows)
    spec = {
        "object_id": "items_sync",
        "source": {"connection": "src", "schema": "main", "object": "items"},
        "target": {"connection": "tgt", "schema": "sales", "object": "items"},
    }
    spec.update(obj)
    return Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(src)}, "tgt": target_conn}, [spec]
    ), src


def deletion_marks(project: Project) -> dict:
    """id -> _is_deleted of every row of a soft-delete target (a key twice fails the size
    check)."""
    rows = project.target_table("items_sync").select(["id", "_is_deleted"]).to_pylist()
    marks = {r["id"]: bool(r["_is_deleted"]) for r in rows}
    assert len(marks) == len(rows), "a key appears twice"
    return marks


def expected_marks(before: dict, src: Path) -> dict:
    """The marks after a soft-delete merge: every key seen before marked deleted unless it is
    still in the source, every source key live."""
    live = set(source_rows(src).column("id").to_pylist())
    return {**{k: True for k in before}, **{k: False for k in live}}
