"""Late commits and NULL watermarks on every target.

- `lookback`: a row committed after a sync with a sync_column value older than the stored
  watermark (a long transaction; dlt#2269, Airbyte's max-boundary loss) is picked up by the
  next run, which re-reads (watermark - lookback, hi] and upserts it; re-read rows that did
  not change are not rewritten.
- Rows whose sync_column is NULL (sling#380 skipped them silently): with merge_keys they are
  re-read and upserted every run; without, only the initial load reads them and every run
  reports their count.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sync_assets.config.models import parse_duration
from sync_assets_tests.data import insert_items, items_project, source_rows
from sync_assets_tests.harness import assert_same_rows, duck


def _late_row(src, item_id: int, stamp: str) -> None:
    duck(
        src,
        f"""INSERT INTO items SELECT {item_id}, 'late {item_id}', 1.50, TRUE, DATE '2025-03-02',
        '2025-03-02', TIMESTAMPTZ '2025-03-02 00:00:00+00', TIMESTAMP '{stamp}', 'late'::BLOB""",
    )


def test_lookback_picks_up_a_late_commit(tmp_path, target_conn):
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        merge_keys=["id"],
        lookback="1h",
    )
    project.materialize("items_sync")
    insert_items(src, 1000, 3, stamp="2025-04-01 12:00:00")
    meta = project.materialize("items_sync")
    assert meta["sync/watermark"] == "2025-04-01T12:16:42" and meta["sync/lookback"] == "1:00:00"
    _late_row(src, 5000, "2025-04-01 11:45:00")  # committed now, stamped before the watermark
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (1, 0)
    assert meta["sync/watermark"] == "2025-04-01T12:16:42"  # never moves back
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
    again = project.materialize("items_sync")  # the window is re-read, nothing is rewritten
    assert again["sync/rows_read"] == 4 and (
        again["sync/rows_inserted"],
        again["sync/rows_updated"],
    ) == (0, 0)
    assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_without_lookback_a_late_commit_is_missed(tmp_path, target_conn):
    """What lookback is for: the same late row, no lookback, is never read."""
    project, src = items_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at", merge_keys=["id"]
    )
    project.materialize("items_sync")
    insert_items(src, 1000, 3, stamp="2025-04-01 12:00:00")
    project.materialize("items_sync")
    _late_row(src, 5000, "2025-04-01 11:30:00")
    assert "sync/skipped" in project.materialize("items_sync")
    assert 5000 not in project.target_table("items_sync").column("id").to_pylist()


def _same_rows_with_nulls(project, src, target_kind) -> None:
    """The target equals the source. The fakesnow stand-in returns NULL timestamps as
    1970-01-01 when rows are fetched (its own result conversion: `IS NULL` is true on the
    server), so on Snowflake the NULL sync columns are counted in SQL instead."""
    if target_kind != "snowflake":
        assert_same_rows(source_rows(src), project.target_table("items_sync"), "id")
        return
    columns = ["id", "name", "amount", "flag", "day", "day_str", "ts", "payload"]
    assert_same_rows(source_rows(src).select(columns), project.target_table("items_sync"), "id")
    target = project.target("items_sync")
    with target.session(autocommit=True) as s:
        nulls = s.scalar(f'SELECT count(*) FROM {target.table_sql} WHERE "updated_at" IS NULL')
    assert nulls == source_rows(src, "updated_at IS NULL").num_rows


def test_null_sync_column_rows_are_upserted_every_run(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at", merge_keys=["id"]
    )
    duck(src, "UPDATE items SET updated_at = NULL WHERE id <= 3")
    meta = project.materialize("items_sync")
    assert meta["sync/rows_inserted"] == 300 and meta["sync/null_sync_column_rows"] == 3
    duck(src, "UPDATE items SET name = 'changed' WHERE id = 2")
    _late_row(src, 6000, "2025-03-01 00:00:00")
    duck(src, "UPDATE items SET updated_at = NULL WHERE id = 6000")
    meta = project.materialize("items_sync")
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"]) == (1, 1)
    assert (
        meta["sync/null_sync_column_rows"] == 4 and meta["sync/null_sync_column_rows_read"] is True
    )
    _same_rows_with_nulls(project, src, target_kind)
    again = project.materialize("items_sync")
    assert again["sync/rows_read"] == 4 and (
        again["sync/rows_inserted"],
        again["sync/rows_updated"],
    ) == (0, 0)


@pytest.mark.parametrize("target_kind", ["duckdb", "parquet"])
def test_null_sync_column_rows_without_keys_are_reported(tmp_path, target_conn):
    """Appends cannot re-read NULL rows without duplicating them: the initial load takes them,
    later ones are counted in the metadata, never silently dropped from view."""
    project, src = items_project(
        tmp_path, target_conn, sync_type="incremental", sync_column="updated_at"
    )
    duck(src, "UPDATE items SET updated_at = NULL WHERE id <= 3")
    first = project.materialize("items_sync")
    assert first["sync/rows_inserted"] == 300 and first["sync/null_sync_column_rows_read"] is True
    _late_row(src, 6000, "2025-03-01 00:00:00")
    duck(src, "UPDATE items SET updated_at = NULL WHERE id = 6000")
    meta = project.materialize("items_sync")
    assert (
        meta["sync/null_sync_column_rows"] == 4 and meta["sync/null_sync_column_rows_read"] is False
    )
    assert 6000 not in project.target_table("items_sync").column("id").to_pylist()


def test_lookback_settings_are_checked(tmp_path):
    from sync_assets.config.loader import ConfigError, load_project

    assert parse_duration("2h") == dt.timedelta(hours=2) and parse_duration("1.5d") == dt.timedelta(
        days=1.5
    )
    cases = {
        "field 'lookback': re-read rows are upserted on merge_keys": {
            "sync_type": "incremental",
            "sync_column": "updated_at",
        },
        "field 'lookback': only watermark syncs": {"sync_type": "full", "merge_keys": ["id"]},
        "field 'lookback': give a positive duration": {
            "sync_type": "incremental",
            "sync_column": "updated_at",
            "merge_keys": ["id"],
            "lookback": "0s",
        },
    }
    for i, (expected, fields) in enumerate(cases.items()):
        folder = tmp_path / str(i)
        folder.mkdir()
        project, _ = items_project(
            folder,
            {"type": "duckdb", "path": str(folder / "w.duckdb")},
            **{"lookback": "1h", **fields},
        )
        with pytest.raises(ConfigError, match=expected):
            load_project(project.configs)
    folder = tmp_path / "ok"
    folder.mkdir()
    project, _ = items_project(
        folder,
        {"type": "duckdb", "path": str(folder / "w.duckdb")},
        sync_type="incremental",
        sync_column="updated_at",
        merge_keys=["id"],
        lookback="PT30M",
    )
    assert load_project(project.configs).sync_objects[0].lookback == dt.timedelta(minutes=30)


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_lookback_needs_a_time_sync_column(tmp_path, target_conn):
    project, _ = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="id",
        merge_keys=["id"],
        lookback="1h",
    )
    with pytest.raises(Exception, match=r"object_id 'items_sync'.*field 'lookback'.*'id' is int64"):
        project.materialize("items_sync")
