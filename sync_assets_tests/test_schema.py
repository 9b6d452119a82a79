"""Schema evolution and nested types on every target."""

from __future__ import annotations

import json

import pytest

from sync_assets_tests.data import items_project
from sync_assets_tests.harness import Project, assert_same_rows, duck, write_marker


def project_for(tmp_path, target_conn, **obj):
    return items_project(
        tmp_path, target_conn, rows=50, **{"sync_type": "merge", "merge_keys": ["id"], **obj}
    )


def test_new_source_column_is_added(tmp_path, target_conn):
    project, src = project_for(tmp_path, target_conn)
    project.materialize("items_sync")
    duck(
        src,
        "ALTER TABLE items ADD COLUMN region VARCHAR DEFAULT 'eu'",
        "UPDATE items SET region = 'us' WHERE id < 5",
    )
    project.materialize("items_sync")
    from sync_assets_tests.harness import duck_table

    expected = duck_table(src, "SELECT id, name, region FROM items")
    assert_same_rows(expected, project.target_table("items_sync"), "id")


def test_lossy_type_change_is_a_clear_error_and_writes_nothing(tmp_path, target_conn):
    project, src = project_for(tmp_path, target_conn)
    project.materialize("items_sync")
    before = write_marker(project, "items_sync")
    duck(
        src,
        "ALTER TABLE items ALTER amount TYPE VARCHAR",
        "UPDATE items SET amount = 'n/a' WHERE id = 1",
    )
    with pytest.raises(
        Exception,
        match=r"object_id 'items_sync'.*column 'amount' changed from decimal128\(12, 2\) to string",
    ):
        project.materialize("items_sync")
    assert write_marker(project, "items_sync") == before


def test_nested_columns(tmp_path, target_conn, target_kind):
    src = tmp_path / "source.duckdb"
    duck(
        src,
        "CREATE TABLE docs AS SELECT i AS id, [i, i + 1] AS nums, {'k': 'v' || i, 'n': i} AS info FROM range(3) r(i)",
    )
    spec = {
        "object_id": "docs",
        "source": {"connection": "src", "object": "docs", "schema": "main"},
        "target": {"connection": "tgt", "object": "docs"},
        "sync_type": "full",
    }
    project = Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(src)}, "tgt": target_conn}, [spec]
    )
    project.materialize("docs")
    rows = sorted(project.target_table("docs").to_pylist(), key=lambda r: r["id"])
    if target_kind == "postgres":  # a list of scalars is an array; a struct is jsonb
        assert rows[1]["nums"] == [1, 2] and json.loads(rows[1]["info"]) == {"k": "v1", "n": 1}
        assert project.target("docs").describe()["sql_types"]["nums"] == "bigint[]"
    elif target_kind in ("odbc", "snowflake"):  # JSON text (NVARCHAR(MAX), VARCHAR)
        assert json.loads(rows[1]["nums"]) == [1, 2] and json.loads(rows[1]["info"]) == {
            "k": "v1",
            "n": 1,
        }
    else:
        assert rows[1]["nums"] == [1, 2] and rows[1]["info"] == {"k": "v1", "n": 1}
