"""Schedules from `frequency` (names with a time of day, weekdays, day of month and time
zone, or cron), `enabled`, `sync_latest_partitions`, `automation: eager | on_cron` evaluated
by Dagster's own automation condition evaluator, and `freshness` as a FreshnessPolicy.
(Issue: syncs that run themselves.)"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from sync_assets_tests.data import items_project

DAILY = {"column": "day", "granularity": "daily", "start": "2025-03-01", "end": "2025-03-11"}
TARGET = {"type": "duckdb", "path": "t.duckdb"}


def _project(tmp_path, **obj):
    tmp_path.mkdir(exist_ok=True)
    return items_project(tmp_path, TARGET, **{"sync_type": "full", **obj})[0]


def _schedules(project) -> dict[str, dg.ScheduleDefinition]:
    defs = project.definitions()
    return {s.name: defs.resolve_schedule_def(s.name) for s in defs.schedules}


@pytest.mark.parametrize(
    ("frequency", "cron", "zone"),
    [
        ("hourly", "0 * * * *", "UTC"),
        ({"every": "hourly", "at": ":15"}, "15 * * * *", "UTC"),
        ({"every": "daily", "at": "06:30", "timezone": "Europe/Amsterdam"}, "30 6 * * *", "Europe/Amsterdam"),
        ({"every": "weekly", "days": ["Thursday", "mon"], "at": "05:00"}, "0 5 * * 1,4", "UTC"),
        ({"every": "monthly", "day": 3, "at": "02:10"}, "10 2 3 * *", "UTC"),
        ({"every": "*/10 7-19 * * 1-5", "timezone": "America/New_York"}, "*/10 7-19 * * 1-5", "America/New_York"),
    ],
)  # fmt: skip
def test_frequency_becomes_the_schedule_cron_and_zone(tmp_path, frequency, cron, zone):
    project = _project(tmp_path, frequency=frequency)
    schedule = _schedules(project)["sync_items_sync_schedule"]
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cron, zone)


def test_schedules_start_stopped_unless_enabled(tmp_path):
    strategies = [
        {"name": "often", "sync_type": "merge", "sync_column": "updated_at", "frequency": "hourly"},
        {"name": "nightly", "sync_type": "hash", "frequency": "daily", "enabled": False},
        {"name": "weekly", "sync_type": "full", "frequency": "weekly", "enabled": True},
    ]
    plain = _project(tmp_path / "a", frequency="hourly")
    on = _project(tmp_path / "b", frequency="hourly", enabled=True)
    (tmp_path / "c").mkdir()
    mixed = items_project(tmp_path / "c", TARGET, merge_keys=["id"], strategies=strategies)[0]
    stopped, running = dg.DefaultScheduleStatus.STOPPED, dg.DefaultScheduleStatus.RUNNING
    assert _schedules(plain)["sync_items_sync_schedule"].default_status == stopped
    assert _schedules(on)["sync_items_sync_schedule"].default_status == running
    # a strategy without `enabled` follows the object's; false has no schedule at all
    assert {n: s.default_status for n, s in _schedules(mixed).items()} == {
        "sync_items_sync_often_schedule": stopped,
        "sync_items_sync_weekly_schedule": running,
    }


def test_a_partitioned_schedule_ticks_at_its_placed_time_for_the_newest_partition(tmp_path):
    project = _project(tmp_path, partition=DAILY, frequency={"every": "daily", "at": "04:45"})
    schedule = _schedules(project)["sync_items_sync_schedule"]
    assert schedule.cron_schedule == "45 4 * * *"
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2025, 3, 6, 4, 45, tzinfo=dt.UTC)
    )
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2025-03-05"


def test_sync_latest_partitions_resyncs_the_newest_n_in_one_run(tmp_path):
    project = _project(tmp_path, partition=DAILY, frequency="daily", sync_latest_partitions=3)
    schedule = _schedules(project)["sync_items_sync_schedule"]
    tick = dt.datetime(2025, 3, 6, 0, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    [request] = schedule.evaluate_tick(context).run_requests
    assert (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    ) == ("2025-03-03", "2025-03-05")
    # the run it requests syncs those three windows and no other
    meta = project.materialize("items_sync", partition_range=("2025-03-03", "2025-03-05"))
    synced = project.target_table("items_sync").column("day").to_pylist()
    assert {str(d) for d in synced} == {"2025-03-03", "2025-03-04", "2025-03-05"}
    assert meta["sync/range_row_count"] == len(synced) > 0


def _requested(defs: dg.Definitions, instance, when: dt.datetime, cursor=None):
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=when, cursor=cursor
    )
    return result.total_requested, result.cursor


def test_on_cron_requests_a_sync_at_each_tick_despite_an_external_source(tmp_path):
    """The source table is an external asset Dagster never sees updated; on_cron ignores it
    (else it would wait forever) and requests one sync per cron tick."""
    project = _project(tmp_path, automation="on_cron", frequency="hourly")
    defs = project.definitions()
    assert [s.name for s in defs.sensors] == ["sync_items_sync_automation"]
    instance = dg.DagsterInstance.ephemeral()
    start = dt.datetime(2025, 1, 1, 10, 20, tzinfo=dt.UTC)
    n, cursor = _requested(defs, instance, start)
    assert n == 0  # no tick passed since the condition was first evaluated
    n, cursor = _requested(defs, instance, start + dt.timedelta(minutes=45), cursor)
    assert n == 1  # 11:00 passed
    n, cursor = _requested(defs, instance, start + dt.timedelta(minutes=50), cursor)
    assert n == 0  # that tick is handled


def test_eager_syncs_when_missing_and_when_the_upstream_sync_updates(tmp_path):
    """A chain: `bronze` copies the source, `silver` (eager) reads bronze's target."""
    project = _project(tmp_path)
    silver = {
        "object_id": "silver",
        "source": {"connection": "tgt", "schema": "sales", "object": "items"},
        "target": {"connection": "tgt", "schema": "silver", "object": "items"},
        "sync_type": "full",
        "automation": "eager",
    }
    project.write(project.connections, [*project.objects, silver])
    defs = project.definitions()
    instance = dg.DagsterInstance.ephemeral()
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    n, cursor = _requested(defs, instance, when)
    assert n == 0  # its upstream (bronze's target) is missing: nothing to copy yet
    bronze_key = defs.get_assets_def(dg.AssetKey(["tgt", "sales", "items"])).key
    instance.report_runless_asset_event(dg.AssetMaterialization(bronze_key))
    n, cursor = _requested(defs, instance, when + dt.timedelta(minutes=1), cursor)
    assert n == 1
    n, cursor = _requested(defs, instance, when + dt.timedelta(minutes=2), cursor)
    assert n == 0  # handled: no second request for the same update


def test_freshness_becomes_the_asset_freshness_policy(tmp_path):
    lag = _project(tmp_path / "a", freshness={"max_lag": "2h", "warn_lag": "90m"})
    deadline = _project(tmp_path / "b", freshness={"deadline": "0 9 * * 1-5", "max_lag": "1d"})
    key = dg.AssetKey(["tgt", "sales", "items"])
    policy = lag.definitions().get_assets_def(key).specs_by_key[key].freshness_policy
    assert (policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()) == (
        dt.timedelta(hours=2),
        dt.timedelta(minutes=90),
    )
    policy = deadline.definitions().get_assets_def(key).specs_by_key[key].freshness_policy
    assert (policy.deadline_cron, policy.lower_bound_delta) == ("0 9 * * 1-5", dt.timedelta(days=1))


def test_a_schedule_job_takes_the_sync_run_config(tmp_path):
    """What the launchpad of a schedule's job accepts: the asset's SyncRunConfig."""
    project = _project(tmp_path, frequency="hourly")
    job = project.definitions().resolve_job_def("sync_items_sync")
    assert dg.validate_run_config(job, {"ops": {"items_sync": {"config": {"full_refresh": True}}}})
    with pytest.raises(dg.DagsterInvalidConfigError, match="full_refres"):
        dg.validate_run_config(job, {"ops": {"items_sync": {"config": {"full_refres": True}}}})
