"""A bad configuration fails loading with one message naming file, object_id and field."""

from __future__ import annotations

import textwrap

import pytest

from sync_assets.config.loader import ConfigError, load_project
from sync_assets.definitions import load_definitions

CONNECTIONS = """
connections:
  src: {type: duckdb, path: src.duckdb}
  wh: {type: duckdb, path: wh.duckdb}
"""

GOOD = """
  - object_id: orders
    source: {connection: src, schema: main, object: orders}
    target: {connection: wh, schema: sales, object: orders}
    sync_type: full
"""


def write(tmp_path, objects: str, connections: str = CONNECTIONS, name: str = "objects.yaml"):
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    (configs / "connections.yaml").write_text(textwrap.dedent(connections))
    (configs / name).write_text("sync_objects:\n" + textwrap.dedent(objects))
    return configs


def error_of(configs) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(configs)
    return str(info.value)


def test_good_config_loads(tmp_path):
    project = load_project(write(tmp_path, GOOD))
    assert [o.object_id for o in project.sync_objects] == ["orders"]


@pytest.mark.parametrize(
    "extra, field, message",
    [
        ("    batch_sise: 10\n", "batch_sise", "unknown field (a typo?"),
        ("    batch_size: lots\n", "batch_size", "valid integer"),
        ("    frequency: every tuesday\n", "frequency", "valid cron expression"),
        (
            "    partition: {column: day, granularity: fortnightly, start: 2025-01-01}\n",
            "partition.granularity",
            "'hourly', 'daily', 'weekly' or 'monthly'",
        ),
    ],
)
def test_field_errors_name_file_object_and_field(tmp_path, extra, field, message):
    text = error_of(write(tmp_path, GOOD + extra))
    assert "objects.yaml" in text and "object_id 'orders'" in text
    assert f"field '{field}'" in text and message in text


def test_merge_without_keys_and_incremental_without_column(tmp_path):
    objects = GOOD.replace("sync_type: full", "sync_type: merge") + GOOD.replace(
        "orders", "events"
    ).replace("sync_type: full", "sync_type: incremental")
    text = error_of(write(tmp_path, objects))
    assert "object_id 'orders'" in text and "merge_keys" in text
    assert "object_id 'events'" in text and "sync_column" in text


def test_unknown_connection(tmp_path):
    text = error_of(write(tmp_path, GOOD.replace("connection: wh", "connection: warehouse")))
    assert "field 'target.connection': unknown connection 'warehouse' (known: src, wh)" in text


def test_duplicate_object_id(tmp_path):
    text = error_of(write(tmp_path, GOOD + GOOD.replace("object: orders}", "object: orders2}")))
    assert "object_id 'orders': field 'object_id': duplicate" in text


def test_yaml_syntax_error_names_line(tmp_path):
    configs = write(tmp_path, GOOD)
    (configs / "broken.yaml").write_text("sync_objects:\n  - object_id: [unclosed\n")
    text = error_of(configs)
    assert (
        "broken.yaml:3: YAML syntax error (column 1): expected ',' or ']', but got '<stream end>'"
        in text
        and "YAML syntax error" in text
    )


def test_bad_sql_in_mappings_and_filter(tmp_path):
    objects = (
        GOOD + "    filter_condition: status = = 'x'\n    column_mappings: {'upper(name': name}\n"
    )
    text = error_of(write(tmp_path, objects))
    assert "field 'filter_condition': not valid duckdb SQL" in text
    assert "field 'column_mappings.upper(name': not valid duckdb SQL" in text


def test_merge_keys_must_be_target_columns(tmp_path):
    objects = GOOD.replace(
        "sync_type: full",
        "sync_type: merge\n    merge_keys: [id]\n    column_mappings: {order_id: oid}",
    )
    assert "field 'merge_keys': 'id' is not a target column" in error_of(write(tmp_path, objects))


def test_environment_variables(tmp_path, monkeypatch):
    connections = CONNECTIONS.replace("path: wh.duckdb", "path: '${WH_PATH}'")
    configs = write(tmp_path, GOOD, connections)
    text = error_of(configs)
    assert "environment variable WH_PATH is not set" in text
    (tmp_path / ".env").write_text("WH_PATH=from_dotenv.duckdb\n")
    assert load_project(configs).connections["wh"].path == "from_dotenv.duckdb"
    monkeypatch.setenv("WH_PATH", "from_env.duckdb")  # the process environment wins
    assert load_project(configs).connections["wh"].path == "from_env.duckdb"


def test_password_is_not_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "s3cret-value")
    connections = (
        CONNECTIONS
        + "  pg: {type: postgres, host: db, database: x, password: '${PG_PASSWORD}', port: nope}\n"
    )
    text = error_of(write(tmp_path, GOOD, connections))
    assert "connection 'pg'" in text and "field 'port'" in text and "s3cret-value" not in text


def test_code_location_load_fails_with_the_same_message(tmp_path):
    configs = write(tmp_path, GOOD.replace("sync_type: full", "sync_type: sometimes"))
    with pytest.raises(ConfigError, match=r"object_id 'orders': field 'sync_type'"):
        load_definitions(configs)


def test_inactive_objects_make_no_asset(tmp_path):
    defs = load_definitions(
        write(
            tmp_path,
            GOOD
            + GOOD.replace("orders", "old").replace(
                "sync_type: full", "sync_type: full\n    active: false"
            ),
        )
    )
    # the active object and its source table (an external asset); nothing of the inactive one
    assert sorted(s.key.to_user_string() for s in defs.resolve_all_asset_specs()) == [
        "src/main/orders",
        "wh/sales/orders",
    ]


TSQL = (
    CONNECTIONS
    + """  mssql: {type: tsql, flavor: azure_sql, server: db.example.net, database: sales, user: u, password: '${MSSQL_PASSWORD}'}
  lake: {type: delta, root: lake}
"""
)
CT = """
  - object_id: ct_orders
    source: {connection: mssql, schema: dbo, object: orders}
    target: {connection: wh, object: orders}
    sync_type: change_tracking
    merge_keys: [id]
    soft_delete: true
"""


def test_change_tracking_object_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("MSSQL_PASSWORD", "pw")
    obj = load_project(write(tmp_path, CT, TSQL)).sync_objects[0]
    assert (obj.change_mode, obj.soft_delete, obj.merge_keys) == ("full_incremental", True, ["id"])


def test_change_tracking_needs_a_sql_server_source(tmp_path, monkeypatch):
    monkeypatch.setenv("MSSQL_PASSWORD", "pw")
    objects = CT.replace("connection: mssql", "connection: src")
    text = error_of(write(tmp_path, objects, TSQL))
    assert (
        "object_id 'ct_orders'" in text
        and "change_tracking needs a tsql source of flavor sqlserver or azure_sql" in text
    )


def test_change_tracking_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("MSSQL_PASSWORD", "pw")
    objects = CT.replace("merge_keys: [id]", "merge_keys: []") + GOOD.replace(
        "sync_type: full", "sync_type: full\n    soft_delete: true"
    )
    text = error_of(write(tmp_path, objects, TSQL))
    assert "object_id 'ct_orders'" in text and "key columns" in text
    assert "object_id 'orders'" in text and "only syncs that see deletes can mark them" in text


def test_tsql_connection_errors_name_the_connection_and_hide_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("SP_SECRET", "very-secret")
    connections = (
        CONNECTIONS
        + """  fab: {type: tsql, flavor: fabric_warehouse, server: x, database: wh, authentication: service_principal,
         client_id: c, client_secret: '${SP_SECRET}'}
  box: {type: tsql, flavor: sqlserver, server: x, database: d, staging: {url: 'abfss://c@a.dfs.core.windows.net/s'}}
"""
    )
    text = error_of(write(tmp_path, GOOD, connections))
    assert "connection 'fab'" in text and "needs tenant_id" in text and "very-secret" not in text
    assert (
        "connection 'box'" in text
        and "field 'staging': COPY INTO staging is available on synapse and fabric_warehouse only"
        in text
    )
