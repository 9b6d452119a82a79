"""A corpus of realistic config mistakes (issue: trust). Each one must fail validation with
one clear line: `<file>:<line>: <object_id 'x' | connection 'y'>: field '<path>': ...` (or
`<file>:<line>: ...` for a file that does not parse), no traceback, and no secret; and
loading the code location reports exactly what `sync-assets validate` reports."""

from __future__ import annotations

import pytest

from sync_assets.cli import main
from sync_assets.code_location import load_definitions
from sync_assets.config.loader import ConfigError, load_project

SECRETS = ["Pw-SECRET-1", "starpass", "bangpass", "hunter2x", "abc123xyz", "Env-SECRET-9"]
CONNECTIONS = """connections:
  src: {type: duckdb, path: s.duckdb}
  wh: {type: duckdb, path: w.duckdb}
  pg: {type: postgres, host: db, database: d, user: u, password: "Pw-SECRET-1"}
"""
ORDERS = "object_id 'orders'"


def obj(*lines: str, head: str = "full") -> str:
    """The sync_objects section with one object (sync_type `head`) and extra lines."""
    body = [
        "sync_objects:",
        "  - object_id: orders",
        "    source: {connection: src, schema: main, object: orders}",
        "    target: {connection: wh, schema: sales, object: orders}",
        f"    sync_type: {head}",
    ]
    return CONNECTIONS + "\n".join(body + [f"    {line}" for line in lines]) + "\n"


def sem(line: str, source: str = "{type: pbip_folder, path: models}") -> str:
    """The usual object and a semantic_models section ending with `line`."""
    return obj() + (
        f"semantic_models:\n  source: {source}\n  target: wh\n  create_views: false\n  {line}\n"
    )


SEM = "semantic_models"


def conn(line: str) -> str:
    """A fourth connection `x` given by `line`, and the usual object."""
    return obj().replace("sync_objects:", f"  x: {line}\nsync_objects:", 1)


# (id, file text, a substring of the line the error must name, label, field, message part)
CASES = [
    ("unknown field", obj("batch_sise: 10"), "batch_sise", ORDERS, "batch_sise", "unknown field"),
    (
        "batch_size text",
        obj("batch_size: lots"),
        "batch_size",
        ORDERS,
        "batch_size",
        "valid integer",
    ),
    ("batch_size zero", obj("batch_size: 0"), "batch_size", ORDERS, "batch_size", "greater than"),
    ("frequency words", obj("frequency: every tuesday"), "frequency", ORDERS, "frequency", "cron"),
    (
        "hour 25",
        obj('frequency: {every: daily, at: "25:00"}'),
        "frequency",
        ORDERS,
        "frequency.at",
        'daily takes "HH:MM"',
    ),
    (
        "hourly at clock",
        obj('frequency: {every: hourly, at: "06:30"}'),
        "frequency",
        ORDERS,
        "frequency.at",
        'hourly takes ":MM"',
    ),
    (
        "weekday typo",
        obj("frequency: {every: weekly, days: [mon, funday]}"),
        "frequency",
        ORDERS,
        "frequency.days",
        "'funday' is not a weekday",
    ),
    (
        "day 31",
        obj("frequency: {every: monthly, day: 31}"),
        "frequency",
        ORDERS,
        "frequency.day",
        "less than or equal to 28",
    ),
    (
        "days on daily",
        obj("frequency: {every: daily, days: [mon]}"),
        "frequency",
        ORDERS,
        "frequency.days",
        "only with every: weekly",
    ),
    (
        "at on a cron",
        obj('frequency: {every: "0 2 * * *", at: "03:00"}'),
        "frequency",
        ORDERS,
        "frequency.at",
        "put the time in the cron",
    ),
    (
        "schedule zone",
        obj("frequency: {every: daily, timezone: Europe/Amsterdan}"),
        "frequency",
        ORDERS,
        "frequency.timezone",
        "IANA",
    ),
    (
        "eager with clock",
        obj("automation: eager", "frequency: hourly"),
        "automation: eager",
        ORDERS,
        "automation",
        "leave frequency out",
    ),
    (
        "on_cron no clock",
        obj("automation: on_cron"),
        "automation",
        ORDERS,
        "automation",
        "give a frequency",
    ),
    (
        "latest unpartitioned",
        obj("sync_latest_partitions: 3"),
        "sync_latest_partitions",
        ORDERS,
        "sync_latest_partitions",
        "no time partitions",
    ),
    (
        "freshness lag words",
        obj("freshness: {max_lag: soon}"),
        "freshness",
        ORDERS,
        "freshness.max_lag",
        "duration",
    ),
    (
        "freshness deadline",
        obj('freshness: {max_lag: 1h, deadline: "9am"}'),
        "freshness",
        ORDERS,
        "freshness.deadline",
        "cron",
    ),
    (
        "continuous strategy",
        obj(
            "merge_keys: [id]",
            "strategies: [{name: a, sync_type: full, frequency: continuous}]",
            head="full",
        ).replace("    sync_type: full\n", "", 1),
        "strategies",
        ORDERS,
        "strategies.0.frequency",
        "trigger: on_change",
    ),
    ("retries zero", obj("retries: {max: 0}"), "retries", ORDERS, "retries.max", "greater than"),
    (
        "retries backoff",
        obj("retries: {max: 2, backoff: quadratic}"),
        "retries",
        ORDERS,
        "retries.backoff",
        "'exponential'",
    ),
    ("sync_type unknown", obj(head="sometimes"), "sync_type", ORDERS, "sync_type", "'full'"),
    (
        "merge without keys",
        obj(head="merge"),
        "object_id: orders",
        ORDERS,
        "merge_keys",
        "needs at least one",
    ),
    (
        "incremental without column",
        obj(head="incremental"),
        "object_id: orders",
        ORDERS,
        "sync_column",
        "needs a sync_column",
    ),
    (
        "merge_keys a string",
        obj("merge_keys: id", head="merge"),
        "merge_keys",
        ORDERS,
        "merge_keys",
        "valid list",
    ),
    (
        "granularity",
        obj("partition: {column: d, granularity: fortnightly, start: 2025-01-01}"),
        "partition",
        ORDERS,
        "partition.granularity",
        "'hourly'",
    ),
    (
        "partition end before start",
        obj("partition: {column: d, granularity: daily, start: 2025-03-01, end: 2025-01-01}"),
        "partition",
        ORDERS,
        "partition.end",
        "is not after start",
    ),
    (
        "impossible date",
        obj("partition: {column: d, granularity: daily, start: 2025-02-30}"),
        "partition",
        None,
        None,
        "2025-02-30 is not a valid date",
    ),
    (
        "bad timezone",
        obj(
            "partition: {column: d, granularity: daily, start: 2025-01-01, timezone: Mars/Olympus}"
        ),
        "partition",
        ORDERS,
        "partition.timezone",
        "not a time zone",
    ),
    (
        "range without end",
        obj("partition: {column: id, step: 100}"),
        "partition",
        ORDERS,
        "partition.end",
        "integer end",
    ),
    (
        "range with granularity",
        obj("partition: {column: id, step: 10, end: 100, granularity: daily}"),
        "partition",
        ORDERS,
        "partition.step",
        "no granularity",
    ),
    (
        "range too fine",
        obj("partition: {column: id, step: 1, end: 50000}"),
        "partition",
        ORDERS,
        "partition.step",
        "at most 10000",
    ),
    (
        "lookback zero",
        obj("sync_column: u", "merge_keys: [id]", "lookback: 0s", head="incremental"),
        "lookback",
        ORDERS,
        "lookback",
        "positive duration",
    ),
    (
        "lookback on full",
        obj("lookback: 2h"),
        "lookback",
        ORDERS,
        "lookback",
        "only watermark syncs",
    ),
    ("scd_type 3", obj("scd_type: 3"), "scd_type", ORDERS, "scd_type", "1 or 2"),
    (
        "scd2 on full",
        obj("scd_type: 2", "merge_keys: [id]"),
        "scd_type",
        ORDERS,
        "scd_type",
        "keeps no history",
    ),
    (
        "hash with sync_column",
        obj("merge_keys: [id]", "sync_column: u", head="hash"),
        "sync_column",
        ORDERS,
        "sync_column",
        "compares every row",
    ),
    (
        "hash columns both",
        obj("merge_keys: [id]", "hash_columns: [a]", "exclude_columns: [b]", head="hash"),
        "exclude_columns",
        ORDERS,
        "exclude_columns",
        "not both",
    ),
    (
        "soft_delete on full",
        obj("soft_delete: true"),
        "soft_delete",
        ORDERS,
        "soft_delete",
        "only syncs that see deletes",
    ),
    (
        "on_bad_rows",
        obj("on_bad_rows: skip"),
        "on_bad_rows",
        ORDERS,
        "on_bad_rows",
        "'fail' or 'quarantine'",
    ),
    ("dialect", obj("dialect: oracle"), "dialect", ORDERS, "dialect", "'tsql'"),
    (
        "seed mapping form",
        obj('column_mappings: {order_date: "CONVERT(DATE, order_date)"}'),
        "column_mappings",
        ORDERS,
        "column_mappings",
        "is not a column name",
    ),
    (
        "target name",
        obj().replace("object: orders}\n    sync_type", "object: my orders}\n    sync_type"),
        "target:",
        ORDERS,
        "target.object",
        "should match pattern",
    ),
    (
        "object and query",
        obj().replace("object: orders}", "object: orders, query: SELECT 1}", 1),
        "source:",
        ORDERS,
        "source.object",
        "exactly one of object",
    ),
    (
        "unknown source connection",
        obj().replace("connection: src", "connection: lake"),
        "source:",
        ORDERS,
        "source.connection",
        "unknown connection 'lake' (known: pg, src, wh)",
    ),
    (
        "unknown target connection",
        obj().replace("connection: wh", "connection: dw"),
        "target:",
        ORDERS,
        "target.connection",
        "unknown connection 'dw'",
    ),
    (
        "target is the source",
        obj().replace(
            "{connection: wh, schema: sales, object: orders}",
            "{connection: src, schema: main, object: orders}",
        ),
        "target:",
        ORDERS,
        "target",
        "the target is the source table itself",
    ),
    (
        "duplicate object_id",
        obj()
        + obj()
        .split("sync_objects:\n", 1)[1]
        .replace("object: orders}\n    sync_type", "object: orders_2}\n    sync_type"),
        "LAST:object_id: orders",
        ORDERS,
        "object_id",
        "duplicate",
    ),
    (
        "key given twice",
        obj("sync_type: merge"),
        "sync_type: merge",
        None,
        None,
        "key 'sync_type' is given twice in one mapping (first on line 9)",
    ),
    (
        "missing dash merges two objects",
        obj("object_id: events"),
        "object_id: events",
        None,
        None,
        "key 'object_id' is given twice",
    ),
    (
        "connection twice in one file",
        obj().replace("  wh:", "  src: {type: duckdb, path: t.duckdb}\n  wh:", 1),
        "path: t.duckdb",
        None,
        None,
        "key 'src' is given twice",
    ),
    (
        "connections as a list",
        "connections:\n  - src: {type: duckdb, path: s.duckdb}\n",
        "connections:",
        None,
        "connections",
        "expected a mapping",
    ),
    (
        "sync_objects as a mapping",
        CONNECTIONS + "sync_objects:\n  orders: {}\n",
        "sync_objects:",
        None,
        "sync_objects",
        "expected a list",
    ),
    (
        "object not a mapping",
        CONNECTIONS + "sync_objects:\n  - orders\n",
        "sync_objects:",
        "sync_objects[0] (no object_id)",
        None,
        "expected a mapping of fields",
    ),
    (
        "unknown top-level key",
        obj() + "sync_object: []\n",
        "sync_object: []",
        None,
        None,
        "unknown top-level key 'sync_object'",
    ),
    (
        "unclosed bracket",
        "sync_objects:\n  - object_id: [orders\n",
        "EOF",
        None,
        None,
        "YAML syntax error",
    ),
    (
        "tab indentation",
        "sync_objects:\n\t- object_id: orders\n",
        "\t- object_id",
        None,
        None,
        "YAML syntax error",
    ),
    (
        "password as alias",
        CONNECTIONS.replace('"Pw-SECRET-1"', "*starpass"),
        "*starpass",
        None,
        None,
        "YAML syntax error",
    ),
    (
        "password as tag",
        CONNECTIONS.replace('"Pw-SECRET-1"', "!bangpass"),
        "!bangpass",
        None,
        None,
        "YAML syntax error",
    ),
    (
        "password without space",
        CONNECTIONS.replace('password: "Pw-SECRET-1"', "password:hunter2x"),
        "pg:",
        "connection 'pg'",
        "password",
        "a key and its value ran together",
    ),
    (
        "client_secret with =",
        conn(
            "{type: tsql, server: s, database: d, authentication: service_principal, tenant_id: t, client_id: c, client_secret=abc123xyz}"
        ),
        "  x:",
        "connection 'x'",
        "client_secret",
        "a key and its value ran together",
    ),
    (
        "missing variable in a connection",
        CONNECTIONS.replace('"Pw-SECRET-1"', '"${NOT_SET_PG_PASSWORD}"'),
        "pg:",
        "connection 'pg'",
        "password",
        "environment variable NOT_SET_PG_PASSWORD is not set",
    ),
    (
        "missing variable in an object",
        obj('filter_condition: "day > ${NOT_SET_DAY}"'),
        "filter_condition",
        ORDERS,
        "filter_condition",
        "NOT_SET_DAY is not set",
    ),
    (
        "port out of range",
        conn("{type: postgres, host: h, database: d, port: 70000}"),
        "  x:",
        "connection 'x'",
        "port",
        "less than or equal to 65535",
    ),
    (
        "port as text",
        conn("{type: postgres, host: h, database: d, port: fivefour}"),
        "  x:",
        "connection 'x'",
        "port",
        "valid integer",
    ),
    (
        "postgres without host",
        conn("{type: postgres, database: d}"),
        "  x:",
        "connection 'x'",
        "host",
        "give either dsn, or host and database",
    ),
    (
        "unknown connection type",
        conn("{type: oracle, host: h}"),
        "  x:",
        "connection 'x'",
        "-",
        "does not match any of the expected tags",
    ),
    (
        "connection without type",
        conn("{host: h}"),
        "  x:",
        "connection 'x'",
        "-",
        "Unable to extract tag using discriminator 'type'",
    ),
    (
        "connection unknown field",
        conn("{type: postgres, hots: h, host: h, database: d}"),
        "  x:",
        "connection 'x'",
        "hots",
        "unknown field",
    ),
    (
        "service principal without secret",
        conn(
            "{type: tsql, server: s, database: d, authentication: service_principal, tenant_id: t, client_id: c}"
        ),
        "  x:",
        "connection 'x'",
        "client_secret",
        "needs client_secret",
    ),
    (
        "staging on sqlserver",
        conn(
            '{type: tsql, server: s, database: d, user: u, password: "Pw-SECRET-1", staging: {url: /tmp/s}}'
        ),
        "  x:",
        "connection 'x'",
        "staging",
        "synapse and fabric_warehouse only",
    ),
    (
        "tsql without server",
        conn("{type: tsql, database: d}"),
        "  x:",
        "connection 'x'",
        "server",
        "give either odbc_connect",
    ),
    (
        "memory_limit",
        conn("{type: duckdb, path: x.duckdb, memory_limit: lots}"),
        "  x:",
        "connection 'x'",
        "memory_limit",
        "should match pattern",
    ),
    (
        "snowflake without account",
        conn("{type: snowflake, user: u, database: d}"),
        "  x:",
        "connection 'x'",
        "account",
        "Field required",
    ),
    (
        "unclosed quote in a filter",
        obj('filter_condition: "status = \'paid"'),
        "filter_condition",
        ORDERS,
        "filter_condition",
        "not valid duckdb SQL",
    ),
    (
        "two statements in a filter",
        obj('filter_condition: "a = 1; DROP TABLE x"'),
        "filter_condition",
        ORDERS,
        "filter_condition",
        "expected one SQL expression",
    ),
    (
        "DML as a query",
        obj().replace(
            "{connection: src, schema: main, object: orders}",
            '{connection: src, query: "DELETE FROM orders"}',
        ),
        "source:",
        ORDERS,
        "source.query",
        "DELETE is not allowed here",
    ),
    (
        "DML inside a CTE of a query",
        obj().replace(
            "{connection: src, schema: main, object: orders}",
            '{connection: src, query: "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d"}',
        ),
        "source:",
        ORDERS,
        "source.query",
        "DELETE is not allowed here",
    ),
    (
        "SELECT INTO as a query",
        obj().replace(
            "{connection: src, schema: main, object: orders}",
            '{connection: src, query: "SELECT * INTO copy_of_orders FROM orders"}',
        ),
        "source:",
        ORDERS,
        "source.query",
        "SELECT ... INTO is not allowed here",
    ),
    (
        "T-SQL function on DuckDB",
        obj('filter_condition: "d > GETDATE()"'),
        "filter_condition",
        ORDERS,
        "filter_condition",
        "GETDATE is not a DuckDB function",
    ),
    (
        "CONVERT with a style",
        obj("dialect: tsql", 'filter_condition: "CONVERT(VARCHAR, d, 112) = x"'),
        "filter_condition",
        ORDERS,
        "filter_condition",
        "does not transpile",
    ),
    (
        "strategy names twice",
        obj(
            "merge_keys: [id]",
            "strategies: [{name: a, sync_type: full}, {name: a, sync_type: full}]",
        ).replace("    sync_type: full\n", "", 1),
        "strategies",
        ORDERS,
        "strategies",
        "names must be unique",
    ),
    (
        "strategies and frequency",
        obj(
            "merge_keys: [id]", "frequency: hourly", "strategies: [{name: a, sync_type: full}]"
        ).replace("    sync_type: full\n", "", 1),
        "frequency: hourly",
        ORDERS,
        "frequency",
        "belong to each strategy",
    ),
    (
        "alias and field both",
        obj("object_name: Orders", "name: Orders"),
        "object_name",
        ORDERS,
        "object_name",
        "give either object_name or name",
    ),
    (
        "active_yn maybe",
        obj("active_yn: maybe"),
        "active_yn",
        ORDERS,
        "active",
        "'maybe' is neither Y nor N",
    ),
    (
        "CUSTOM without cron",
        obj("sync_frequency: CUSTOM"),
        "sync_frequency",
        ORDERS,
        "frequency",
        "CUSTOM needs a cron",
    ),
    (
        "change_tracking on DuckDB",
        obj("merge_keys: [id]", head="change_tracking"),
        "sync_type",
        ORDERS,
        "sync_type",
        "needs a tsql source",
    ),
    (
        "cdf on DuckDB",
        obj("merge_keys: [id]", head="cdf"),
        "sync_type",
        ORDERS,
        "sync_type",
        "use a delta or fabric_lakehouse source",
    ),
    (
        "frequency on a daily partition",
        obj("frequency: hourly", "partition: {column: d, granularity: daily, start: 2025-01-01}"),
        "frequency",
        ORDERS,
        "frequency",
        "set frequency: daily",
    ),
    ("group name", obj("group: sales team"), "group", ORDERS, "group", "should match pattern"),
    (
        "sync_tables typo",
        sem("sync_tables: {sourcez: {DatabaseQuery: src}}"),
        "sync_tables",
        SEM,
        "sync_tables.sourcez",
        "unknown field",
    ),
    (
        "sync_tables unknown connection",
        sem("sync_tables: {sources: {DatabaseQuery: nowhere}}"),
        "semantic_models:",
        SEM,
        "sync_tables.sources",
        "unknown connection 'nowhere' (known: pg, src, wh)",
    ),
    (
        "sync_tables schema",
        sem("sync_tables: {schema: pbi data}"),
        "sync_tables",
        SEM,
        "sync_tables.schema",
        "should match pattern",
    ),
    (
        "changes_from",
        sem("interval_s: 300", "{type: fabric_workspace, workspace_id: w1, changes_from: scan}"),
        "changes_from",
        SEM,
        "source.fabric_workspace.changes_from",
        "'definitions' or 'scanner'",
    ),
]


def _write(tmp_path, text) -> tuple:
    configs = tmp_path / "configs"
    configs.mkdir()
    path = configs / "project.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return configs, path


def _expected_line(text: str, marker: str) -> int:
    """The line holding `marker` (LAST:<marker> its last one; EOF the end of the file)."""
    lines = text.splitlines()
    if marker == "EOF":
        return len(lines) + 1
    if marker.startswith("LAST:"):
        return max(i for i, line in enumerate(lines, 1) if marker[5:] in line)
    return next(i for i, line in enumerate(lines, 1) if marker in line)


@pytest.mark.parametrize(
    "text, marker, label, field, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_mistake_is_one_clear_line(tmp_path, monkeypatch, text, marker, label, field, message):
    monkeypatch.setenv("ENV_PG_PASSWORD", "Env-SECRET-9")
    configs, path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_project(configs)
    problems = info.value.problems
    where = f"{path}:{_expected_line(text, marker)}: "
    if label:
        where += f"{label}: "
    if field:
        where += f"field '{field}': "
    hits = [p for p in problems if p.startswith(where) and message in p]
    assert hits, f"expected a line starting {where!r} with {message!r}, got {problems}"
    text_out = str(info.value)
    assert "Traceback" not in text_out
    assert not [s for s in SECRETS if s in text_out], text_out


def test_non_utf8_bytes_name_the_file(tmp_path):
    configs, path = _write(tmp_path, obj().encode() + b"# caf\xe9\n")
    with pytest.raises(
        ConfigError, match=rf"{path}: not UTF-8 text \(byte \d+\): save it as UTF-8"
    ):
        load_project(configs)


def test_a_broken_connection_gets_no_follow_on_lines(tmp_path):
    text = obj().replace("  src: {type: duckdb, path: s.duckdb}", "  src: {type: duckdb}")
    configs, _ = _write(
        tmp_path, text + obj().split("sync_objects:\n", 1)[1].replace("orders", "events")
    )
    with pytest.raises(ConfigError) as info:
        load_project(configs)
    assert len(info.value.problems) == 1, info.value.problems
    assert "connection 'src': field 'path': Field required" in info.value.problems[0]


def test_every_problem_of_every_file_in_one_pass(tmp_path):
    configs, _ = _write(tmp_path, obj("batch_size: lots"))
    (configs / "more.yaml").write_text(
        obj("frequency: never").split("sync_objects:\n", 1)[1].join(["sync_objects:\n", ""])
        .replace("orders", "events")
    )  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_project(configs)
    fields = sorted(p.split("field '")[1].split("'")[0] for p in info.value.problems)
    assert fields == ["batch_size", "frequency"]


def test_validate_and_the_code_location_agree(tmp_path, monkeypatch, capsys):
    configs, _ = _write(tmp_path, obj("batch_sise: 1", 'filter_condition: "d > GETDATE()"'))
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(configs))
    assert main(["--configs", str(configs), "validate"]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(ConfigError) as info:
        load_definitions(configs)
    assert printed == str(info.value)


def test_the_corpus_is_large():
    assert len(CASES) + 3 >= 60
