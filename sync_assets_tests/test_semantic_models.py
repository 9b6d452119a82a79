"""New-model detection end to end (issue: new-model detection): a folder of PBIP semantic
models, the detection sensor evaluated by Dagster against a real instance, the
`semantic_models` asset's dynamic partitions materialized into Snowflake (the fakesnow server
through the real connector; fakesnow has no semantic views, so `create_views: false` and the
statement is golden-tested in test_semantic_view.py). Between polls one model changes, one
is deleted and one is new."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from sync_assets.semantic.defs import KEY, SENSOR
from sync_assets_tests.conftest import snowflake_connection
from sync_assets_tests.harness import Project

SAMPLES = Path(__file__).parent / "semantic_samples"


def _project(tmp_path, fakesnow_server=None) -> Project:
    """Models in tmp_path/models synced to fakesnow, or (without a server) to a DuckDB file
    as the demo does."""
    models = tmp_path / "models"
    shutil.copytree(SAMPLES, models)
    target = (
        snowflake_connection(fakesnow_server)
        if fakesnow_server
        else {"type": "duckdb", "path": str(tmp_path / "semantic.duckdb")}
    )
    project = Project(tmp_path, {"snow": target}, [])
    project.set_section(
        "semantic_models",
        {"source": {"type": "pbip_folder", "path": str(models)}, "target": "snow",
         "create_views": False},
    )  # fmt: skip
    return project


def _tick(project: Project) -> dg.SensorResult:
    """One evaluation of the sensor function, and what the daemon does with its result:
    add the requested partitions (evaluate_tick cannot resolve run requests for partitions
    added in the same tick outside the daemon, so the function is called directly)."""
    defs = project.definitions()
    context = dg.build_sensor_context(instance=project.instance, definitions=defs)
    result = defs.get_sensor_def(SENSOR)(context)
    for request in result.dynamic_partitions_requests or []:
        project.instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )
    return result


def _materialize(project: Project, model_id: str) -> dict:
    defs = project.definitions()
    asset = defs.get_assets_def(KEY)
    result = dg.materialize([asset], instance=project.instance, partition_key=model_id)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def _metadata(project: Project) -> dict:
    from sync_assets.config.loader import load_project
    from sync_assets.semantic.defs import Syncer

    store = Syncer(load_project(project.configs), str(project.root)).store()
    try:
        return {k: (v.sync_count, v.deleted) for k, v in store.synced().items()}
    finally:
        store.connection.close()


@pytest.mark.parametrize("target", ["snowflake", "duckdb"])
def test_new_changed_and_deleted_models_between_polls(tmp_path, request, target):
    server = request.getfixturevalue("fakesnow_server") if target == "snowflake" else None
    project = _project(tmp_path, server)
    first = _tick(project)
    assert sorted(r.partition_key for r in first.run_requests) == ["Sales", "SalesBim"]
    assert project.instance.get_dynamic_partitions("semantic_models") == ["Sales", "SalesBim"]
    for request in first.run_requests:
        meta = _materialize(project, request.partition_key)
        assert meta["semantic/sync_count"] == 1 and meta["semantic/metrics"] == 3
    assert _metadata(project) == {"Sales": (1, False), "SalesBim": (1, False)}

    quiet = _tick(project)
    assert quiet.run_requests == [] and "no new or changed model" in quiet.skip_reason.skip_message

    models = tmp_path / "models"
    sales = models / "Sales.SemanticModel" / "definition" / "tables" / "Sales.tmdl"
    sales.write_text(sales.read_text().replace("SUM(Sales[amount])", "SUM(Sales[amount]) * 1"))
    shutil.rmtree(models / "SalesBim.SemanticModel")
    shutil.copytree(models / "Sales.SemanticModel", models / "Returns.SemanticModel")
    polled = _tick(project)
    assert sorted(r.partition_key for r in polled.run_requests) == ["Returns", "Sales"]
    assert project.instance.get_dynamic_partitions("semantic_models") == [
        "Sales",
        "SalesBim",
        "Returns",
    ]
    assert _metadata(project)["SalesBim"] == (1, True)  # marked deleted, rows kept
    for request in polled.run_requests:
        _materialize(project, request.partition_key)
    assert _metadata(project) == {"Sales": (2, False), "SalesBim": (1, True), "Returns": (1, False)}
    assert _tick(project).run_requests == []


def test_the_one_time_job_syncs_every_model(tmp_path, fakesnow_server):
    project = _project(tmp_path, fakesnow_server)
    job = project.definitions().get_job_def("semantic_models_sync_all")
    run = job.execute_in_process(instance=project.instance)
    assert run.success
    assert _metadata(project) == {"Sales": (1, False), "SalesBim": (1, False)}
    # each model got its partition and a materialization of it, as a sensor run gives
    assert project.instance.get_dynamic_partitions("semantic_models") == ["Sales", "SalesBim"]
    assert sorted(e.materialization.partition for e in run.get_asset_materialization_events()) == [
        "Sales",
        "SalesBim",
    ]
    status = project.instance.get_status_by_partition(
        KEY, ["Sales", "SalesBim"], project.definitions().get_assets_def(KEY).partitions_def
    )
    assert status is not None and set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}


def test_a_semantic_models_section_must_target_snowflake(tmp_path):
    from sync_assets.config.loader import ConfigError, load_project

    project = Project(tmp_path, {"duck": {"type": "duckdb", "path": "d.duckdb"}}, [])
    project.set_section(
        "semantic_models", {"source": {"type": "pbip_folder", "path": "m"}, "target": "duck"}
    )
    with pytest.raises(ConfigError) as info:
        load_project(project.configs)
    [line] = info.value.problems
    assert ": semantic_models: field 'create_views': DuckDB has no semantic views" in line
