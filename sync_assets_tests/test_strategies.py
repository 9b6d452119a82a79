"""Several strategies on one object (seed 002): a watermark strategy often, a hash strategy
daily, a full one weekly, on one asset, one state and one pool; the run's `sync/strategy`
tag (or run config) picks one, and each has its own schedule. (Issue: configs from the seeds.)"""

from __future__ import annotations

import pytest

from sync_assets.config.loader import ConfigError, load_project
from sync_assets_tests.data import delete_items, items_project, source_rows, update_items
from sync_assets_tests.harness import assert_same_rows, duck

CARRIED = ["id", "name", "amount", "flag", "day", "day_str", "ts", "updated_at", "payload"]
STRATEGIES = [
    {
        "name": "delta",
        "sync_type": "merge",
        "sync_column": "updated_at",
        "frequency": "*/15 * * * *",
    },
    {
        "name": "hash_sync",
        "sync_type": "hash",
        "exclude_columns": ["updated_at"],
        "frequency": "0 2 * * *",
    },
    {"name": "full_sync", "sync_type": "full", "frequency": "0 0 * * 0", "enabled": False},
]


def _counts(meta: dict) -> tuple[int, int, int]:
    return meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]


def test_three_strategies_share_one_target_and_state(tmp_path, target_conn, target_kind):
    project, src = items_project(tmp_path, target_conn, merge_keys=["id"], strategies=STRATEGIES)
    first = project.materialize("items_sync")  # no tag: the first strategy
    assert first["sync/strategy"] == "delta" and first["sync/sync_type"] == "merge"
    assert _counts(first) == (300, 0, 0)

    update_items(src, "id <= 4")
    delete_items(src, "id BETWEEN 10 AND 12")  # a watermark cannot see deletes ...
    delta = project.materialize("items_sync", tags={"sync/strategy": "delta"})
    assert _counts(delta) == (0, 4, 0)
    assert project.target_table("items_sync").num_rows == 300

    hashed = project.materialize("items_sync", tags={"sync/strategy": "hash_sync"})
    assert hashed["sync/strategy"] == "hash_sync"
    assert hashed["sync/rows_deleted"] == 3  # ... the daily hash strategy does
    assert_same_rows(source_rows(src), project.target_table("items_sync").select(CARRIED), "id")

    # the watermark the delta strategy stored is still the state: nothing new to read
    again = project.materialize("items_sync", tags={"sync/strategy": "delta"})
    assert again["sync/skipped"] == "no rows beyond the stored watermark"

    # a watermark upsert into the table the hash strategy keeps: its rows' stored hashes are
    # cleared, so a later hash run compares them instead of trusting a stale hash
    update_items(src, "id = 20", stamp="2025-06-01 00:00:00")
    delta = project.materialize("items_sync", tags={"sync/strategy": "delta"})
    assert _counts(delta) == (0, 1, 0)
    duck(
        src, "UPDATE items SET name = 'item 20', amount = amount - 1 WHERE id = 20"
    )  # back, same stamp
    hashed = project.materialize("items_sync", tags={"sync/strategy": "hash_sync"})
    assert _counts(hashed) == (0, 1, 0)
    assert_same_rows(source_rows(src), project.target_table("items_sync").select(CARRIED), "id")

    full = project.materialize("items_sync", run_config={"strategy": "full_sync"})
    assert full["sync/strategy"] == "full_sync" and full["sync/write_mode"] == "replace"
    assert_same_rows(source_rows(src), project.target_table("items_sync").select(CARRIED), "id")


def test_each_enabled_strategy_has_a_schedule_with_its_tag(tmp_path):
    project, _ = items_project(
        tmp_path, {"type": "duckdb", "path": "t.duckdb"}, merge_keys=["id"], strategies=STRATEGIES
    )
    schedules = {s.name: s for s in project.definitions().schedules}
    assert set(schedules) == {
        "sync_items_sync_delta_schedule",
        "sync_items_sync_hash_sync_schedule",
    }
    hourly = schedules["sync_items_sync_delta_schedule"]
    assert hourly.cron_schedule == "*/15 * * * *" and hourly.tags == {"sync/strategy": "delta"}


def test_an_unknown_strategy_fails_the_run_by_name(tmp_path):
    import dagster as dg

    project, _ = items_project(
        tmp_path, {"type": "duckdb", "path": "t.duckdb"}, merge_keys=["id"], strategies=STRATEGIES
    )
    with pytest.raises(
        dg.Failure,
        match=r"strategy 'weekly' is not one of this object's \(delta, hash_sync, full_sync\)",
    ):
        project.materialize("items_sync", tags={"sync/strategy": "weekly"})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"frequency": "hourly"}, "field 'frequency': with strategies, frequency belong"),
        (
            {
                "merge_keys": [],
                "strategies": [
                    {"name": "d", "sync_type": "incremental", "sync_column": "updated_at"},
                    {"name": "f", "sync_type": "full"},
                ],
            },
            "field 'merge_keys': strategies of different sync types share one target",
        ),
        (
            {"strategies": [STRATEGIES[0], {"name": "h", "sync_type": "hash", "sync_column": "x"}]},
            r"field 'strategies.1.sync_column': sync_type hash compares .* \(strategy h\)",
        ),
        (
            {"strategies": [STRATEGIES[0], dict(STRATEGIES[0], frequency="@hourly2")]},
            r"field 'strategies.1.frequency': '@hourly2' is neither",
        ),
        ({"strategies": [STRATEGIES[0], STRATEGIES[0]]}, "names must be unique"),
    ],
)
def test_strategy_mistakes_name_the_field(tmp_path, changes, message):
    fields = {"merge_keys": ["id"], "strategies": STRATEGIES, **changes}
    project, _ = items_project(tmp_path, {"type": "duckdb", "path": "t.duckdb"}, **fields)
    with pytest.raises(ConfigError, match=message):
        load_project(project.configs)
