"""Change sensors: `frequency: continuous` (or `trigger: on_change`) requests a sync only
when the source moved past the state stored with the target; one request per change, none
while a sync of the object is queued or running. The sensor is evaluated by Dagster's own
tick evaluation against a real instance and real source and target files; the real daemon
runs it in test_daemon.py. (Issue: syncs that run themselves.)"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from sync_assets_tests.data import insert_items, items_project, update_items

WATERMARK = {"sync_type": "incremental", "sync_column": "updated_at", "merge_keys": ["id"]}
FULL = {"sync_type": "full"}


def _tick(project, cursor=None) -> dg.SensorExecutionData:
    defs = project.definitions()
    sensor = defs.get_sensor_def("sync_items_sync_on_change")
    context = dg.build_sensor_context(instance=project.instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


@pytest.mark.parametrize("shape", [WATERMARK, FULL], ids=["watermark", "full"])
def test_a_run_per_change_and_none_without_one(tmp_path, shape):
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, src = items_project(tmp_path, target, frequency="continuous", **shape)
    defs = project.definitions()
    assert defs.schedules in (None, [])  # continuous is a sensor, not a clock
    sensor = defs.get_sensor_def("sync_items_sync_on_change")
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED

    first = _tick(project)
    [request] = first.run_requests  # no target yet: the first load
    assert _tick(project, first.cursor).run_requests[0].run_key == request.run_key  # same change

    project.materialize("items_sync")
    quiet = _tick(project, first.cursor)
    assert quiet.run_requests == [] and "has not moved" in quiet.skip_message

    update_items(src, "id <= 3")
    moved = _tick(project, quiet.cursor)
    [again] = moved.run_requests
    assert again.run_key != request.run_key
    project.materialize("items_sync")
    assert _tick(project, moved.cursor).run_requests == []


def test_no_request_while_a_sync_of_the_object_is_running(tmp_path):
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, src = items_project(tmp_path, target, trigger="on_change", enabled=True, **WATERMARK)
    assert (
        project.definitions().get_sensor_def("sync_items_sync_on_change").default_status
        == dg.DefaultSensorStatus.RUNNING
    )
    project.materialize("items_sync")
    insert_items(src, 301, 10)
    key = dg.AssetKey(["tgt", "sales", "items"])
    run = create_run_for_test(
        project.instance, job_name="sync_items_sync_on_change", asset_selection={key},
        status=dg.DagsterRunStatus.STARTED,
    )  # fmt: skip
    busy = _tick(project)
    assert busy.run_requests == [] and "queued or running" in busy.skip_message
    project.instance.report_run_canceled(run)
    [request] = _tick(project).run_requests
    assert request.tags["sync/change"].startswith("merge from src up to")


def test_a_source_that_fails_is_a_clear_error_without_secrets(tmp_path):
    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, _ = items_project(tmp_path, target, frequency="continuous", **WATERMARK)
    project.write(
        {**project.connections, "src": {"type": "postgres", "host": "127.0.0.1", "port": 9,
                                        "database": "d", "user": "u", "password": "Pw-S3cret"}},
        project.objects,
    )  # fmt: skip
    with pytest.raises(Exception, match="object_id 'items_sync': checking the source") as info:
        _tick(project)
    assert "Pw-S3cret" not in str(info.value)


def test_a_delta_change_feed_source_is_watched_by_its_table_version(tmp_path):
    """cdf: the sensor compares the Delta table's version with the one stored."""
    from sync_assets_tests.test_cdf import cdf_project, change_source

    target = {"type": "duckdb", "path": str(tmp_path / "t.duckdb")}
    project, lake = cdf_project(tmp_path, target, frequency="continuous")
    defs = project.definitions()
    sensor = defs.get_sensor_def("sync_orders_cdf_on_change")

    def tick():
        context = dg.build_sensor_context(instance=project.instance, definitions=defs)
        return sensor.evaluate_tick(context)

    assert len(tick().run_requests) == 1
    project.materialize("orders_cdf")
    assert tick().run_requests == []
    change_source(lake)
    [request] = tick().run_requests
    assert request.tags["sync/change"].startswith("merge from lake")
    project.materialize("orders_cdf")
    assert tick().run_requests == []
