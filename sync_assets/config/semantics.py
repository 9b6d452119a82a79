"""Checks on a sync object that need more than one field (or its connections).

Each function returns problem strings of the form "field 'x': message"; the loader prefixes
them with the file and object_id.
"""

from __future__ import annotations

import functools

from sync_assets.config.models import SyncObject
from sync_assets.connection_types import dialect_of


def check_object(obj: SyncObject, connections: dict) -> list[str]:
    """All cross-field problems of one object, given the known connections."""
    dialect = dialect_of(connections[obj.source.connection])
    problems = _check_sql(obj, dialect)
    problems += _check_target_columns(obj)
    problems += _check_partitioned_frequency(obj)
    problems += _check_automation(obj)
    if obj.source.query and connections[obj.source.connection].type in (
        "delta",
        "fabric_lakehouse",
        "parquet",
    ):
        problems.append("field 'source.query': Delta and Parquet sources take schema + object")
    if obj.sync_type == "change_tracking":
        problems += _check_change_tracking(
            connections[obj.source.connection], connections[obj.target.connection]
        )
    if obj.sync_type == "cdf" and connections[obj.source.connection].type not in (
        "delta",
        "fabric_lakehouse",
    ):
        problems.append(
            "field 'sync_type': cdf reads a Delta table's change data feed: use a delta or fabric_lakehouse source"
        )
    return problems


def _check_partitioned_frequency(obj: SyncObject) -> list[str]:
    """A partitioned object's schedule runs at its partition cadence: another frequency would
    be ignored, so it is an error. (Integer ranges have no cadence: a frequency syncs every
    range, in one run.)"""
    part = obj.partition
    if not part or part.is_range:
        return []
    given = [("frequency", obj.frequency)] + [
        (f"strategies[{i}].frequency", s.frequency) for i, s in enumerate(obj.strategies or [])
    ]
    problems = []
    for field, freq in given:
        if freq is None:
            continue
        if freq.every != part.granularity:
            problems.append(
                f"field '{field}': '{freq.every}' on a partitioned object, whose schedule syncs "
                f"its newest complete partition at the partition cadence: set frequency: "
                f"{part.granularity} (or change partition.granularity)"
            )
        elif freq.days and len(freq.days) > 1:
            problems.append(
                f"field '{field}.days': a weekly partition's schedule ticks once a week: give one day"
            )
        elif freq.timezone and freq.timezone != part.timezone:
            problems.append(
                f"field '{field}.timezone': the schedule ticks in the partitions' time zone "
                f"({part.timezone}): leave timezone out or set partition.timezone"
            )
    return problems


def _check_automation(obj: SyncObject) -> list[str]:
    """`automation:` and `frequency` say one thing together: on_cron needs a cron, eager
    needs none, and strategies keep their own schedules."""
    freq, how = obj.frequency, obj.automation
    if how == "on_cron" and (freq is None or freq.every == "continuous"):
        return [
            "field 'automation': on_cron evaluates AutomationCondition.on_cron on the object's "
            "frequency: give a frequency other than continuous"
        ]
    if how == "eager" and freq is not None:
        return [
            "field 'automation': eager syncs whenever the source asset updates, with no clock: "
            "leave frequency out (or use automation: on_cron with it)"
        ]
    continuous = [
        i
        for i, s in enumerate(obj.strategies or [])
        if s.frequency and s.frequency.every == "continuous"
    ]
    if continuous:
        return [
            f"field 'strategies.{continuous[0]}.frequency': a strategy's frequency is a clock; "
            "for a change sensor set trigger: on_change on the object (it runs the first strategy)"
        ]
    if how != "schedule" and obj.strategies:
        return ["field 'automation': with strategies, each strategy's frequency is its schedule"]
    if obj.trigger == "on_change" and obj.partition:
        return [
            "field 'trigger': a change sensor "
            "watches an unpartitioned object; a partitioned one syncs at its partition cadence "
            "(sync_latest_partitions re-syncs late rows)"
        ]
    if obj.watches_source and how != "schedule":
        return ["field 'trigger': a change sensor or an automation condition, not both"]
    if obj.sync_latest_partitions > 1 and (not obj.partition or obj.partition.is_range):
        return [
            "field 'sync_latest_partitions': re-syncs the newest time partitions: the object "
            "has no time partitions"
        ]
    return []


def _check_change_tracking(source, target) -> list[str]:
    """Change Tracking is a SQL Server / Azure SQL feature; deletes need a SQL target."""
    problems = []
    if source.type != "tsql" or source.flavor not in ("sqlserver", "azure_sql"):
        problems.append(
            "field 'sync_type': change_tracking needs a tsql source of flavor sqlserver or azure_sql"
        )
    return problems


def sql_snippets(obj: SyncObject) -> dict[str, str]:
    """The object's SQL, by field: filter, query, and each mapped expression."""
    snippets = {"filter_condition": obj.filter_condition, "source.query": obj.source.query}
    for expr in obj.column_mappings or {}:
        snippets[f"column_mappings.{expr}"] = expr
    return {field: text for field, text in snippets.items() if text}


def transpiled(obj: SyncObject, dialect: str) -> tuple[SyncObject, list[str]]:
    """An object whose SQL is written in `obj.dialect` (e.g. tsql), with that SQL in the
    source's dialect; what sqlglot cannot transpile is a problem, never a run-time surprise."""
    if not obj.dialect or obj.dialect == dialect:
        return obj, []
    import sqlglot
    from sqlglot.errors import ErrorLevel, SqlglotError

    problems, done = [], {}
    for field, text in sql_snippets(obj).items():
        try:
            tree = sqlglot.parse_one(text, read=obj.dialect).transform(_strict_convert)
            done[field] = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as exc:  # parse, token (an unclosed quote) and unsupported errors
            problems.append(
                f"field '{field}': does not transpile from {obj.dialect} to {dialect}: {exc}"
            )
    if problems:
        return obj, problems
    mappings = obj.column_mappings and {
        done[f"column_mappings.{e}"]: t for e, t in obj.column_mappings.items()
    }
    update = {"filter_condition": done.get("filter_condition", obj.filter_condition)}
    if mappings is not None:
        update["column_mappings"] = mappings
    if obj.source.query:
        update["source"] = obj.source.model_copy(update={"query": done["source.query"]})
    return obj.model_copy(update=update), []


def _strict_convert(node):
    """T-SQL CONVERT fails on a bad value; sqlglot writes it as DuckDB's TRY_CAST, which
    gives NULL instead: keep it a CAST (a style argument has no equivalent: refused)."""
    from sqlglot import exp
    from sqlglot.errors import UnsupportedError

    if not isinstance(node, exp.Convert):
        return node
    if node.args.get("style") is not None:
        raise UnsupportedError(f"{node.sql('tsql')}: CONVERT with a style has no equivalent")
    return exp.Cast(this=node.expression, to=node.this)


# DuckDB syntax written like a call that duckdb_functions() does not list
_DUCKDB_FORMS = {
    "cast", "try_cast", "extract", "coalesce", "ifnull", "exists", "columns", "interval",
    "current_timestamp", "current_date", "current_time", "position", "substring", "trim",
    "overlay", "grouping", "array", "list", "map", "struct", "any", "all", "values", "case",
}  # fmt: skip


def _unknown_duckdb_functions(text: str) -> list[str]:
    """Names called as functions in `text` that DuckDB does not have (it runs the SQL of
    DuckDB, Parquet and Delta sources, and can say exactly what it knows)."""
    import sqlglot
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(text)
    called = {
        a.text for a, b in zip(tokens, tokens[1:], strict=False) if b.token_type == TokenType.L_PAREN
        and a.token_type == TokenType.VAR
    }  # fmt: skip
    if not called:
        return []
    known = _duckdb_function_names()
    return sorted(n for n in called if n.lower() not in known and n.lower() not in _DUCKDB_FORMS)


@functools.cache
def _duckdb_function_names() -> frozenset[str]:
    """What duckdb_functions() lists, asked once per process (~11 ms a query: a config of
    many objects with DuckDB SQL asked it for each)."""
    import duckdb

    rows = duckdb.sql("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    return frozenset(r[0] for r in rows)


def _check_sql(obj: SyncObject, dialect: str) -> list[str]:
    problems = []
    snippets = sql_snippets(obj)
    if not snippets:
        return problems
    # imported here: sqlglot costs every process ~0.1 s, and most objects carry no SQL
    import sqlglot
    from sqlglot.errors import ParseError, SqlglotError

    for field, text in snippets.items():
        try:
            parsed = sqlglot.parse(text, read=dialect)
        except ParseError as exc:
            first = exc.errors[0]["description"] if exc.errors else str(exc)
            problems.append(f"field '{field}': not valid {dialect} SQL: {first}")
            continue
        except SqlglotError as exc:  # e.g. an unclosed quote (TokenError)
            problems.append(f"field '{field}': not valid {dialect} SQL: {str(exc)[:200]}")
            continue
        statements = [p for p in parsed if p is not None]
        if len(statements) != 1:
            problems.append(f"field '{field}': expected one SQL expression or statement")
            continue
        wrong = _not_a_read(field, statements[0])
        if wrong:
            problems.append(f"field '{field}': {wrong}")
            continue
        unknown = _unknown_duckdb_functions(text) if dialect == "duckdb" else []
        if unknown:
            problems.append(
                f"field '{field}': {', '.join(unknown)} is not a DuckDB function (this source "
                f"runs DuckDB SQL){_as_duckdb(text)}"
            )
    return problems


def _not_a_read(field: str, tree) -> str | None:
    """Why `tree` is not what `field` may hold: a query reads, an expression computes; DDL,
    DML and commands never run in a sync's read."""
    from sqlglot import exp

    changes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
               exp.Command, exp.TruncateTable, exp.Use, exp.Set, exp.Grant)  # fmt: skip
    # anywhere in the tree: a data-modifying CTE (WITH d AS (DELETE … RETURNING *) SELECT …)
    found = tree if isinstance(tree, changes) else tree.find(*changes)
    if found is not None:
        return f"{type(found).__name__.upper()} is not allowed here: the sync only reads the source"
    if tree.find(exp.Into) is not None:  # SELECT … INTO t creates a table (T-SQL, PostgreSQL)
        return "SELECT ... INTO is not allowed here: it creates a table; the sync only reads"
    if field == "source.query" and not isinstance(tree, exp.Query):
        return "a query must be a SELECT (or a set operation of SELECTs)"
    return None


def _as_duckdb(text: str) -> str:
    """A hint: the text read as T-SQL (the usual origin), written as DuckDB."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, SqlglotError

    try:
        tree = sqlglot.parse_one(text, read="tsql").transform(_strict_convert)
        out = tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError:
        return ""
    return f"; as T-SQL it reads in DuckDB as: {out} (or set dialect: tsql on the object)"


def _check_target_columns(obj: SyncObject) -> list[str]:
    problems = []
    mapped = obj.column_mappings
    if mapped is not None:
        targets = list(mapped.values())
        duplicates = sorted({t for t in targets if targets.count(t) > 1})
        if duplicates:
            problems.append(f"field 'column_mappings': target column(s) {duplicates} used twice")
        for key in obj.merge_keys:
            if key not in targets:
                problems.append(
                    f"field 'merge_keys': '{key}' is not a target column of column_mappings"
                )
    if obj.partition and obj.target_column_for(obj.partition.column) is None:
        problems.append(
            f"field 'partition.column': '{obj.partition.column}' must be carried to the target "
            "(map it in column_mappings) so a partition can be replaced exactly"
        )
    if obj.partition and obj.partition.format and obj.partition.granularity == "hourly":
        if "%H" not in obj.partition.format:
            problems.append("field 'partition.format': hourly partitions need %H in the format")
    return problems
