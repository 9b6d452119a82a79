"""Configs as users of the tools we replace write them: their field names and upper-case
values, JSON files, and their mapping form caught. (Issue: configs from the seeds.)"""

from __future__ import annotations

import json

import pytest
import yaml

from sync_assets.cli import main
from sync_assets.config.loader import ConfigError, load_project

CONNECTIONS = {
    "src": {"type": "duckdb", "path": "s.duckdb"},
    "dw": {"type": "duckdb", "path": "w.duckdb"},
}


def seed_object(**fields) -> dict:
    return {
        "source": {"connection": "src", "schema": "main", "object": "customers"},
        "target": {"connection": "dw", "object": "customers"},
        **fields,
    }


def write(tmp_path, objects, name="project.yaml", dump=yaml.safe_dump):
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    (configs / name).write_text(dump({"connections": CONNECTIONS, "sync_objects": objects}))
    return configs


def test_seed_field_names_and_upper_case_values_are_accepted(tmp_path, capsys, monkeypatch):
    configs = write(
        tmp_path,
        [
            seed_object(
                object_id="CUSTOMER_SYNC",
                object_name="Customer Data Sync",
                active_yn="Y",
                sync_type="INCREMENTAL",
                sync_column="updated_at",
                sync_frequency="HOURLY",
                sync_direction="SOURCE_TO_TARGET",
                source_type="DUCKDB",
            ),
            seed_object(
                object_id="CUST_DAILY_SYNC",
                active_yn="N",
                sync_type="FULL",
                sync_frequency="CUSTOM",
                cron="0 2 * * *",
            ),
        ],
    )
    project = load_project(configs)
    hourly, daily = project.sync_objects
    assert (hourly.object_id, hourly.active, hourly.sync_type, hourly.frequency.every) == (
        "CUSTOMER_SYNC", True, "incremental", "hourly",
    )  # fmt: skip
    assert hourly.description == "sync_direction: SOURCE_TO_TARGET; source_type: DUCKDB"
    assert hourly.name == "Customer Data Sync"
    assert (daily.active, daily.sync_type, daily.frequency.every) == (False, "full", "0 2 * * *")
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(configs))  # main sets it; restored after
    assert main(["--configs", str(configs), "validate", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "alias: object_name -> name" in out
    assert "alias: frequency: CUSTOM + cron -> frequency: <cron>" in out
    assert "frequency: 0 2 * * *" in out  # the normalized object


def test_json_config_files_load_like_yaml(tmp_path):
    configs = write(tmp_path, [seed_object(object_id="c", sync_type="full")], "p.json", json.dumps)
    assert [o.object_id for o in load_project(configs).sync_objects] == ["c"]
    (configs / "p.json").write_text('{"connections": {,}}')
    with pytest.raises(ConfigError, match=r"p.json:1: JSON syntax error \(column 18\)"):
        load_project(configs)


def test_the_other_tools_mapping_form_is_caught(tmp_path):
    """Seed form `target: expression` in our `expression: target` mapping."""
    mapping = {"order_date": "CONVERT(DATE, order_date)"}
    configs = write(
        tmp_path, [seed_object(object_id="c", sync_type="full", column_mappings=mapping)]
    )
    with pytest.raises(ConfigError) as err:
        load_project(configs)
    assert (
        "object_id 'c': field 'column_mappings': 'CONVERT(DATE, order_date)' is not a column name "
        "(mapped from 'order_date'); column_mappings map a source column or expression to the "
        'target column, so write {"CONVERT(DATE, order_date)": "order_date"}'
    ) in str(err.value)


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"object_id": "a", "object_name": "A", "name": "A"},
            "field 'object_name': give either object_name or name",
        ),
        ({"object_id": "a", "active_yn": "maybe"}, "field 'active': 'maybe' is neither Y nor N"),
        ({"object_id": "a", "sync_frequency": "CUSTOM"}, "field 'frequency': CUSTOM needs a cron"),
    ],
)
def test_alias_mistakes_name_the_field(tmp_path, fields, message):
    configs = write(tmp_path, [seed_object(sync_type="full", **fields)])
    with pytest.raises(ConfigError, match=message):
        load_project(configs)


def test_tsql_functions_on_a_duckdb_source_fail_validation(tmp_path):
    """They passed validate and failed only when the run reached the source."""
    obj = seed_object(
        object_id="c", sync_type="full", filter_condition="updated_at > DATEADD(day, -1, GETDATE())"
    )
    with pytest.raises(ConfigError) as err:
        load_project(write(tmp_path, [obj]))
    assert (
        "object_id 'c': field 'filter_condition': DATEADD, GETDATE is not a DuckDB function (this "
        "source runs DuckDB SQL); as T-SQL it reads in DuckDB as: updated_at > CURRENT_TIMESTAMP + "
        "INTERVAL (-1) DAY (or set dialect: tsql on the object)"
    ) in str(err.value)


def test_dialect_tsql_is_transpiled_to_the_source_dialect(tmp_path):
    obj = seed_object(
        object_id="c",
        sync_type="full",
        dialect="tsql",
        filter_condition="ISNULL(status, 'x') <> 'test' AND updated_at > DATEADD(day, -1, GETDATE())",
        column_mappings={"customer_id": "customer_id", "CONVERT(DATE, updated_at)": "updated_on"},
    )
    loaded = load_project(write(tmp_path, [obj])).sync_objects[0]
    assert loaded.filter_condition == (
        "COALESCE(status, 'x') <> 'test' AND updated_at > CURRENT_TIMESTAMP + INTERVAL (-1) DAY"
    )
    assert loaded.column_mappings == {
        "customer_id": "customer_id", "CAST(updated_at AS DATE)": "updated_on",
    }  # fmt: skip


def test_sql_that_does_not_transpile_is_a_validation_error(tmp_path):
    obj = seed_object(
        object_id="c", sync_type="full", dialect="tsql",
        filter_condition="CONVERT(VARCHAR(10), updated_at, 112) > '20250101'",
    )  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"field 'filter_condition': does not transpile from "
        r"tsql to duckdb: .*CONVERT with a style has no equivalent",
    ):
        load_project(write(tmp_path, [obj]))


def test_a_frequency_a_partitioned_object_would_ignore_is_an_error(tmp_path):
    obj = seed_object(
        object_id="c", sync_type="full", frequency="hourly",
        partition={"column": "updated_at", "granularity": "monthly", "start": "2025-01-01"},
    )  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"field 'frequency': 'hourly' on a partitioned object, "
        r"whose schedule .* set frequency: monthly",
    ):
        load_project(write(tmp_path, [obj]))
    obj["frequency"] = "monthly"
    assert load_project(write(tmp_path, [obj])).sync_objects[0].frequency.every == "monthly"
