"""Asset checks on every target: row-count parity and a checksum over chosen columns,
computed with one canonical encoding on both sides, per partition, with severity and
blocking; a target edited by hand fails them."""

from __future__ import annotations

import dagster as dg
import pytest

from sync_assets_tests.data import insert_items, items_project
from sync_assets_tests.test_partitions import DAYS, partitioned_project

ALL = ["id", "name", "amount", "flag", "day", "day_str", "ts", "updated_at", "payload"]


def _check_results(project, object_id: str, **kwargs) -> dict:
    """Materialize through Dagster; return {check name: (passed, severity, metadata)}."""
    defs = project.definitions()
    asset = next(
        a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.op.name == object_id
    )
    result = dg.materialize(
        [asset],
        resources=dict(defs.resources),
        instance=project.instance,
        raise_on_error=False,
        **kwargs,
    )
    return {
        e.check_name: (
            e.passed,
            e.severity,
            {k: getattr(v, "value", v) for k, v in e.metadata.items()},
        )
        for e in result.get_asset_check_evaluations()
    }


def _tamper(project, target_kind: str) -> None:
    """Change one value and drop one row in the target, behind the sync's back."""
    target = project.target("items_sync")
    if target_kind == "delta":
        from deltalake import DeltaTable

        table = DeltaTable(target.location)
        table.update(updates={"name": "'edited'"}, predicate="id = 7")
        table.delete("id = 8")
        return
    with target.session() as s:
        s.execute(f"UPDATE {target.table_sql} SET name = 'edited' WHERE id = 7")
        s.execute(f"DELETE FROM {target.table_sql} WHERE id = 8")
        s.commit()


def test_checks_pass_when_the_target_equals_the_source(tmp_path, target_conn):
    project, src = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        checks={"row_count": True, "checksum": ALL},
    )
    results = _check_results(project, "items_sync")
    assert results["row_count"][0] and results["checksum"][0], results
    assert results["row_count"][2]["source_rows"] == results["row_count"][2]["target_rows"] == 300
    insert_items(src, 1000, 5)
    results = _check_results(project, "items_sync")
    assert results["row_count"][2]["target_rows"] == 305 and results["checksum"][0]


@pytest.mark.parametrize("target_kind", ["duckdb", "postgres", "delta"])
def test_checks_catch_a_target_edited_by_hand(tmp_path, target_conn, target_kind):
    project, _ = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        checks={"row_count": True, "checksum": ["id", "name"], "severity": "error"},
    )
    _check_results(project, "items_sync")
    _tamper(project, target_kind)
    results = _check_results(project, "items_sync")  # nothing new to read: the checks still run
    assert results["row_count"][:2] == (False, dg.AssetCheckSeverity.ERROR)
    assert results["row_count"][2]["difference"] == -1
    assert results["checksum"][0] is False
    assert results["checksum"][2]["source_checksum"] != results["checksum"][2]["target_checksum"]


@pytest.mark.parametrize("target_kind", ["parquet", "duckdb"])
def test_checks_run_per_partition(tmp_path, target_conn):
    project, _ = partitioned_project(
        tmp_path, target_conn, "day", checks={"row_count": True, "checksum": ["id", "amount"]}
    )
    project.materialize("items_daily", partition_range=DAYS)
    results = _check_results(project, "items_daily", partition_key="2025-03-04")
    assert results["row_count"][0] and results["row_count"][2]["target_rows"] == 30
    assert results["checksum"][0]


@pytest.mark.parametrize("target_kind", ["delta"])
def test_a_blocking_check_stops_downstream_assets(tmp_path, target_conn, target_kind):
    project, _ = items_project(
        tmp_path,
        target_conn,
        sync_type="incremental",
        sync_column="updated_at",
        checks={"checksum": ["id", "name"], "severity": "error", "blocking": True},
    )
    onward = {
        "object_id": "items_onward",
        "source": {"connection": "tgt", "schema": "sales", "object": "items"},
        "target": {"connection": "wh", "object": "items"},
        "sync_type": "full",
    }
    connections = dict(
        project.connections, wh={"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    )
    project.write(connections, project.objects + [onward])
    defs = project.definitions()
    both = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    assert dg.materialize(both, resources=dict(defs.resources), instance=project.instance).success
    _tamper(project, target_kind)
    result = dg.materialize(
        both, resources=dict(defs.resources), instance=project.instance, raise_on_error=False
    )
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "tgt/sales/items" in materialized and "wh/main/items" not in materialized


@pytest.mark.parametrize("target_kind", ["parquet"])
def test_checks_of_a_partition_range_run(tmp_path, target_conn):
    """A range run (backfill policy single_run) checks the whole range at once."""
    project, _ = partitioned_project(
        tmp_path, target_conn, "day", checks={"row_count": True, "checksum": ["id"]}
    )
    tags = {
        "dagster/asset_partition_range_start": DAYS[0],
        "dagster/asset_partition_range_end": DAYS[1],
    }
    results = _check_results(project, "items_daily", tags=tags)
    assert results["row_count"][0] and results["row_count"][2]["target_rows"] == 300, results
    assert results["checksum"][0]


@pytest.mark.parametrize("target_kind", ["duckdb"])
def test_column_schema_change_check(tmp_path, target_conn):
    """Dagster's column-schema change check comes with every sync asset, evaluated in its
    step (schema_change.py): one step per object, no check step after them all."""
    from sync_assets_tests.harness import duck

    project, src = items_project(tmp_path, target_conn, sync_type="full")

    def run() -> dict:
        defs = project.definitions()
        assert not defs.asset_checks  # no separate check definitions
        nodes = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
        result = dg.materialize(nodes, resources=dict(defs.resources), instance=project.instance)
        assert len(result.get_step_success_events()) == 1
        return {
            e.check_name: (e.passed, e.severity, e.description)
            for e in result.get_asset_check_evaluations()
        }

    warn = dg.AssetCheckSeverity.WARN
    assert run() == {
        "column_schema_change": (True, warn, "The asset has been materialized fewer than 2 times")
    }
    assert run()["column_schema_change"][0] is True  # unchanged
    duck(src, "ALTER TABLE items ADD COLUMN channel VARCHAR DEFAULT 'web'")
    passed, severity, text = run()["column_schema_change"]
    assert not passed and severity == warn
    assert text.endswith("Added columns: channel"), text


def test_column_schema_change_verdicts():
    """Removed columns and type changes, in the words of Dagster's own check."""
    from sync_assets import schema_change

    def schema(**columns):
        return dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in columns.items()])

    before = schema(id="BIGINT", name="VARCHAR", amount="DECIMAL(12,2)")
    same = schema_change.result(before, schema(id="BIGINT", name="VARCHAR", amount="DECIMAL(12,2)"))
    assert same.passed
    changed = schema_change.result(before, schema(id="BIGINT", amount="DECIMAL(18,2)"))
    assert not changed.passed
    assert changed.description == (
        "Column schema changed between previous and latest materialization.\n\n"
        "Removed columns: name\n\nColumn type changes:\n- amount: DECIMAL(12,2) -> DECIMAL(18,2)"
    )
    assert not schema_change.result(before, None).passed  # no column schema recorded
