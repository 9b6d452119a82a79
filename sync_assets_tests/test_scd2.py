"""scd_type 2 on every target: after every step of a scripted change sequence the target's
history is exact — one current version per live key equal to the source, closed versions
whose valid_to is the next version's valid_from, a deleted key closed, a key that comes back
with a new current version, compound keys compared as tuples, reruns adding nothing — for
merge, incremental, hash and cdf objects; validity from a source column; checks count the
current versions; config mistakes."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_assets_tests.data import (
    delete_items,
    insert_items,
    items_project,
    source_rows,
    update_items,
)
from sync_assets_tests.harness import Project, assert_same_rows, duck
from sync_assets_tests.test_cdf import cdf_project, change_source, source_table
from sync_assets_tests.test_partitions import DAYS, partitioned_project

CARRIED = ["id", "name", "amount", "flag", "day", "day_str", "ts", "payload"]


def history(project, object_id: str = "items_sync", keys=("id",)) -> dict:
    """key -> versions (dicts) ordered by valid_from; checks the shape of every history."""
    rows = project.target_table(object_id).to_pylist()
    if project.target(object_id).kind == "snowflake":
        # fakesnow's result conversion fetches NULL timestamps as 1970-01-01 (see
        # test_soft_deletes.py); no version of these tests is valid at the epoch
        for r in rows:
            if r["valid_to"] is not None and _instant(r["valid_to"]).year == 1970:
                r["valid_to"] = None
    versions: dict = {}
    for r in rows:
        versions.setdefault(tuple(r[k] for k in keys), []).append(r)
    for key, vs in versions.items():
        vs.sort(key=lambda r: _instant(r["valid_from"]))
        current = [v for v in vs if v["is_current"]]
        assert len(current) <= 1, f"{key} has {len(current)} current versions"
        assert all(v["valid_to"] is None for v in current), key
        for older, newer in zip(vs, vs[1:], strict=False):
            assert not older["is_current"] and older["valid_to"] is not None, key
            assert _instant(older["valid_to"]) <= _instant(newer["valid_from"]), key
    return versions


def _instant(value):
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def current_rows(project, object_id: str = "items_sync"):
    table = project.target_table(object_id)
    return table.filter(table["is_current"])


def _scd(meta: dict) -> tuple[int, int, int]:
    """(new keys, changed keys, closed keys); a skipped run (source unchanged) changed none."""
    if meta.get("sync/skipped"):
        return (0, 0, 0)
    return (
        meta["sync/scd2_new_keys"],
        meta["sync/scd2_changed_keys"],
        meta["sync/scd2_closed_keys"],
    )


def test_whole_source_merge_keeps_exact_history(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path, target_conn, sync_type="merge", merge_keys=["id"], scd_type=2
    )
    assert _scd(project.materialize("items_sync")) == (300, 0, 0)
    assert _scd(project.materialize("items_sync")) == (0, 0, 0)  # a rerun adds nothing
    assert project.target(object_id="items_sync").count_rows() == 300

    update_items(src, "id <= 3")
    delete_items(src, "id = 10")
    assert _scd(project.materialize("items_sync")) == (0, 3, 1)
    versions = history(project)
    assert len(versions[(1,)]) == 2 and versions[(1,)][1]["name"] == "item 1 (updated)"
    assert versions[(1,)][0]["valid_to"] == versions[(1,)][1]["valid_from"]
    assert len(versions[(10,)]) == 1 and not versions[(10,)][0]["is_current"]

    insert_items(src, 10, 1)  # the deleted key comes back: a new current version
    assert _scd(project.materialize("items_sync")) == (1, 0, 0)
    versions = history(project)
    assert [v["is_current"] for v in versions[(10,)]] == [False, True]
    assert versions[(10,)][1]["name"] == "new 10"
    assert _scd(project.materialize("items_sync")) == (0, 0, 0)
    assert sum(len(v) for v in history(project).values()) == 300 + 3 + 1
    assert_same_rows(source_rows(src).select(CARRIED), current_rows(project), "id")


def test_compound_keys_are_closed_as_tuples(tmp_path, target_conn, target_kind):
    """('1', '12') and ('11', '2') concatenate alike (peer bug dlt#4244): deleting one must
    not retire the other."""
    src = tmp_path / "pairs.duckdb"
    duck(
        src,
        "CREATE TABLE pairs AS SELECT * FROM (VALUES ('1', '12', 10), ('11', '2', 20)) v(k1, k2, v)",
    )
    spec = {
        "object_id": "pairs",
        "source": {"connection": "src", "schema": "main", "object": "pairs"},
        "target": {"connection": "tgt", "schema": "sales", "object": "pairs"},
        "sync_type": "merge",
        "merge_keys": ["k1", "k2"],
        "scd_type": 2,
    }
    project = Project(
        tmp_path, {"src": {"type": "duckdb", "path": str(src)}, "tgt": target_conn}, [spec]
    )
    project.materialize("pairs")
    duck(src, "DELETE FROM pairs WHERE k1 = '1'")
    assert _scd(project.materialize("pairs")) == (0, 0, 1)
    versions = history(project, "pairs", keys=("k1", "k2"))
    assert versions[("11", "2")][0]["is_current"] and not versions[("1", "12")][0]["is_current"]


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "delta", "parquet"])
def test_incremental_history_with_validity_from_a_source_column(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        merge_keys=["id"],
        scd_type=2,
        scd={"validity_column": "updated_at", "valid_from": "effective_from"},
    )
    project.materialize("items_sync")
    update_items(src, "id IN (5, 6)", stamp="2025-06-01 00:00:00")
    assert _scd(project.materialize("items_sync")) == (0, 2, 0)
    rows = [r for r in project.target_table("items_sync").to_pylist() if r["id"] == 5]
    rows.sort(key=lambda r: r["effective_from"])
    assert [r["is_current"] for r in rows] == [False, True]
    new_from = rows[1]["effective_from"]
    assert new_from.replace(tzinfo=None) == dt.datetime(2025, 6, 1)
    assert rows[0]["valid_to"] == new_from
    assert _scd(project.materialize("items_sync")) == (0, 0, 0)


@pytest.mark.parametrize("target_kind", ["duckdb", "delta", "parquet", "snowflake"])
def test_hash_sync_history(tmp_path, target_conn, target_kind):
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="hash",
        merge_keys=["id"],
        exclude_columns=["updated_at"],
        scd_type=2,
    )
    project.materialize("items_sync")
    duck(src, "UPDATE items SET updated_at = TIMESTAMP '2031-01-01' WHERE id < 50")  # excluded
    update_items(src, "id = 60")
    delete_items(src, "id = 61")
    assert _scd(project.materialize("items_sync")) == (0, 1, 1)
    assert project.materialize("items_sync")["sync/skipped"]
    assert_same_rows(source_rows(src).select(["id", "name", "amount"]), current_rows(project), "id")


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "delta"])
def test_cdf_history(tmp_path, target_conn, target_kind):
    project, src = cdf_project(tmp_path, target_conn, scd_type=2)
    project.materialize("orders_cdf")
    change_source(src)
    meta = project.materialize("orders_cdf")
    # 20 ids % 10 updated (2 of them also deleted: ids % 50), 8 deletes (ids % 25), key 3
    # updated then deleted, two new keys
    assert _scd(meta) == (2, 16, 9)
    versions = history(project, "orders_cdf")
    assert not any(v["is_current"] for v in versions[(3,)])
    assert_same_rows(source_table(src), current_rows(project, "orders_cdf"), "id")
    assert _scd(project.materialize("orders_cdf")) == (0, 0, 0)


@pytest.mark.parametrize("target_kind", ["duckdb", "delta"])
def test_a_partition_run_rebuilds_only_its_slice(tmp_path, target_conn, target_kind):
    project, src = partitioned_project(
        tmp_path, target_conn, "day", sync_type="merge", merge_keys=["id"], scd_type=2
    )
    project.materialize("items_daily", partition_range=DAYS)
    delete_items(src, "id IN (3, 4)")  # 2025-03-04 and 2025-03-05
    assert _scd(project.materialize("items_daily", partition="2025-03-04")) == (0, 0, 1)
    versions = history(project, "items_daily")
    assert not versions[(3,)][0]["is_current"] and versions[(4,)][0]["is_current"]


def test_checks_count_current_versions(tmp_path):
    project, src = items_project(
        tmp_path,
        {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
        sync_type="merge",
        merge_keys=["id"],
        scd_type=2,
        checks={"row_count": True, "checksum": ["id", "name"]},
    )
    project.materialize("items_sync")
    update_items(src, "id <= 5")
    defs = project.definitions()
    import dagster as dg

    result = dg.materialize(
        [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
        resources=dict(defs.resources),
        instance=project.instance,
    )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["row_count"] and checks["checksum"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sync_type": "full"}, "keeps no history"),
        ({"merge_keys": []}, "merge_keys"),
        ({"soft_delete": True}, "soft_delete"),
        ({"scd": {"valid_from": "x", "valid_to": "x"}}, "three names"),
        ({"scd_type": 3}, "scd_type"),
    ],
)
def test_scd_config_mistakes_name_the_field(tmp_path, changes, message):
    from sync_assets.config.loader import ConfigError, load_project

    spec = {
        "object_id": "h",
        "source": {"connection": "src", "object": "items"},
        "target": {"connection": "tgt", "object": "items"},
        "sync_type": "merge",
        "merge_keys": ["id"],
        "scd_type": 2,
        **changes,
    }
    project = Project(
        tmp_path,
        {"src": {"type": "duckdb", "path": "s.duckdb"}, "tgt": {"type": "duckdb", "path": "t"}},
        [spec],
    )
    with pytest.raises(ConfigError, match=message):
        load_project(project.configs)


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "odbc", "delta", "parquet"])
def test_change_tracking_stream_history(tmp_path, target_conn):
    """The change stream Change Tracking yields (rows + __sync_deleted; no SQL Server here, so
    the stream is built as test_change_tracking.py builds it), kept as history: the first
    full load, then changes with a delete of a key the target has and one it never had."""
    from types import SimpleNamespace

    from sync_assets.config.models import SyncObject
    from sync_assets.state import SyncState
    from sync_assets.strategies import scd2
    from sync_assets.strategies.planner import SyncBatch
    from sync_assets.targets.base import WritePlan
    from sync_assets_tests.test_change_tracking import CHANGES, INITIAL, _stream, _target

    target = _target(tmp_path, target_conn)
    obj = SyncObject.model_validate(
        {
            "object_id": "orders",
            "source": {"connection": "src", "schema": "sales", "object": "orders"},
            "target": {"connection": "tgt", "object": "orders"},
            "sync_type": "change_tracking",
            "merge_keys": ["id"],
            "scd_type": 2,
        }
    )
    planner = SimpleNamespace(obj=obj, target=target, target_window=lambda: None)

    def apply(rows, plan, day: int) -> tuple:
        when = dt.datetime(2025, 1, day, tzinfo=dt.UTC)
        batch = scd2.historize(planner, SyncBatch("orders", plan, SyncState(), _stream(rows)), when)
        target.write(batch.reader, batch.plan, {})
        return _scd(batch.notes)

    assert apply(INITIAL, WritePlan("replace"), 1) == (3, 0, 0)
    changes = WritePlan("merge", ("id",), deletes=True)
    assert apply(CHANGES, changes, 2) == (1, 1, 1)
    assert apply(CHANGES, changes, 3) == (0, 0, 0)
    rows = target.read().read_all().to_pylist()
    by_key: dict = {}
    for r in rows:
        by_key.setdefault(r["id"], []).append(r)
    assert sorted(by_key) == [1, 2, 3, 4]
    assert [
        r["is_current"] for r in sorted(by_key[2], key=lambda r: _instant(r["valid_from"]))
    ] == [
        False,
        True,
    ]
    assert not by_key[3][0]["is_current"]
    assert _instant(by_key[3][0]["valid_to"]) == dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize("target_kind", ["duckdb", "delta", "postgres"])
def test_late_commits_and_null_sync_columns_add_no_spurious_versions(
    tmp_path, target_conn, target_kind
):
    """With a lookback, re-read rows that did not change add no version; a row committed late
    with an old updated_at is versioned; rows whose sync column is NULL (re-read every run
    with merge_keys) get one version and no more."""
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        merge_keys=["id"],
        lookback="1d",
        scd_type=2,
    )
    duck(src, "UPDATE items SET updated_at = NULL WHERE id IN (7, 8)")
    assert _scd(project.materialize("items_sync")) == (300, 0, 0)
    assert _scd(project.materialize("items_sync")) == (0, 0, 0)  # lookback + NULLs re-read
    # committed late: a change stamped before the watermark, inside the lookback
    duck(
        src,
        "UPDATE items SET name = 'late', updated_at = TIMESTAMP '2025-03-01 00:04:00' WHERE id = 250",
    )
    duck(src, "UPDATE items SET name = 'null changed' WHERE id = 7")
    assert _scd(project.materialize("items_sync")) == (0, 2, 0)
    versions = history(project)
    assert versions[(250,)][-1]["name"] == "late" and len(versions[(250,)]) == 2
    assert versions[(7,)][-1]["name"] == "null changed" and len(versions[(8,)]) == 1
    assert _scd(project.materialize("items_sync")) == (0, 0, 0)
