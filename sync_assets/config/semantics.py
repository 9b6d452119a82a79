"""Checks on a sync object that need more than one field (or its connections).

Each function returns problem strings of the form "field 'x': message"; the loader prefixes
them with the file and object_id.
"""

from __future__ import annotations

from sync_assets.config.models import SyncObject
from sync_assets.connection_types import dialect_of


def check_object(obj: SyncObject, connections: dict) -> list[str]:
    """All cross-field problems of one object, given the known connections."""
    dialect = dialect_of(connections[obj.source.connection])
    problems = _check_sql(obj, dialect)
    problems += _check_target_columns(obj)
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


def _check_change_tracking(source, target) -> list[str]:
    """Change Tracking is a SQL Server / Azure SQL feature; deletes need a SQL target."""
    problems = []
    if source.type != "tsql" or source.flavor not in ("sqlserver", "azure_sql"):
        problems.append(
            "field 'sync_type': change_tracking needs a tsql source of flavor sqlserver or azure_sql"
        )
    return problems


def _check_sql(obj: SyncObject, dialect: str) -> list[str]:
    problems = []
    snippets = {"filter_condition": obj.filter_condition, "source.query": obj.source.query}
    for expr in obj.column_mappings or {}:
        snippets[f"column_mappings.{expr}"] = expr
    snippets = {field: text for field, text in snippets.items() if text}
    if not snippets:
        return problems
    # imported here: sqlglot costs every process ~0.1 s, and most objects carry no SQL
    import sqlglot
    from sqlglot.errors import ParseError

    for field, text in snippets.items():
        try:
            parsed = sqlglot.parse(text, read=dialect)
        except ParseError as exc:
            first = exc.errors[0]["description"] if exc.errors else str(exc)
            problems.append(f"field '{field}': not valid {dialect} SQL: {first}")
            continue
        if len([p for p in parsed if p is not None]) != 1:
            problems.append(f"field '{field}': expected one SQL expression or statement")
    return problems


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
