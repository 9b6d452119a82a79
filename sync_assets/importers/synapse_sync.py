"""Seed 000's sync objects (`config_synapse_extract_objects` rows) as our sync objects.

The rows come as a CSV export of the table, the SQL INSERTs that fill it (with or without a
column list), or JSON (one object, a list, or `{"sync_objects": [...]}`: the document's
Python dict form). The table names no connections: `sync_direction` says which side is
Fabric and which Synapse, and the importer uses the connections named `fabric` and
`synapse` (or the ones given), writing a skeleton for each that the configs folder lacks.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from sync_assets.importers import Imported, ImportProblem, ident, read_text

TABLE = "config_synapse_extract_objects"
# the table's columns in order, for INSERTs without a column list (seed 000's DDL)
COLUMNS = (
    "object_id", "object_name", "active_yn", "sync_direction", "source_type", "source_schema",
    "source_object", "target_schema", "target_object", "sync_type", "sync_column",
    "sync_frequency", "filter_condition", "column_mappings",
)  # fmt: skip
DIRECTIONS = {"FABRIC_TO_SYNAPSE": False, "SYNAPSE_TO_FABRIC": True, "BIDIRECTIONAL": False}
# skeletons of the two sides, for connections the configs folder does not define yet
SKELETONS = {
    "fabric": {
        "type": "fabric_lakehouse",
        "workspace": "${FABRIC_WORKSPACE}",
        "lakehouse": "${FABRIC_LAKEHOUSE}",
    },
    "synapse": {
        "type": "tsql",
        "flavor": "synapse",
        "server": "${SYNAPSE_SERVER}",
        "database": "${SYNAPSE_DATABASE}",
        "authentication": "default",
    },
}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HANDLED = set(COLUMNS) | {"source_query", "merge_keys", "batch_size", "cron", "description"}


def import_file(
    path: Path,
    fabric: str = "fabric",
    synapse: str = "synapse",
    known: dict[str, str] | None = None,
    **_,
) -> Imported:
    """Import every row of `path`; `known` maps the configs folder's connections to types."""
    known = known or {}
    result = Imported("synapse-sync", str(path))
    for name, role in ((fabric, "fabric"), (synapse, "synapse")):
        if name not in known:
            result.connections[name] = dict(SKELETONS[role])
            result.unmapped.append(
                f"connection '{name}': not in the configs folder; a skeleton was written "
                f"({SKELETONS[role]['type']}): fill in its ${{...}} values"
            )
    types = {**known, **{n: c["type"] for n, c in result.connections.items()}}
    for number, row in enumerate(read_rows(Path(path)), 1):
        result.objects.append(_object(row, number, fabric, synapse, types, result))
    return result


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV, SQL or JSON file, as {column: value} with lower-case columns."""
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    elif path.suffix.lower() == ".json":
        rows = _json_rows(path, text)
    else:
        rows = _insert_rows(path, text)
    if not rows:
        raise ImportProblem(f"{path}: no rows of {TABLE} found")
    return [{str(k).strip().lower(): _blank(v) for k, v in row.items()} for row in rows]


def _blank(value):
    if isinstance(value, str) and value.strip().upper() in ("", "NULL"):
        return None
    return value


def _json_rows(path: Path, text: str) -> list[dict]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportProblem(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(doc, dict):
        doc = doc.get("sync_objects", [doc])
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ImportProblem(f"{path}: expected an object, a list of objects or sync_objects")
    return doc


def _insert_rows(path: Path, text: str) -> list[dict]:
    """Rows of every `INSERT INTO [schema.]config_synapse_extract_objects ... VALUES ...`."""
    try:
        statements = sqlglot.parse(text, read="tsql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise ImportProblem(f"{path}: SQL does not parse as T-SQL: {str(exc)[:300]}") from None
    rows = []
    for statement in statements:
        if not isinstance(statement, exp.Insert):
            continue
        table = statement.this
        columns = list(COLUMNS)
        if isinstance(table, exp.Schema):
            columns = [c.name.lower() for c in table.expressions]
            table = table.this
        if table.name.lower() != TABLE:
            continue
        for number, values in enumerate(statement.expression.expressions, 1):
            items = [_literal(v, path, number) for v in values.expressions]
            if len(items) != len(columns):
                raise ImportProblem(
                    f"{path}: row {number} of INSERT INTO {table.sql('tsql')}: {len(items)} "
                    f"values for {len(columns)} columns"
                )
            rows.append(dict(zip(columns, items, strict=True)))
    return rows


def _literal(value: exp.Expression, path: Path, number: int):
    if isinstance(value, exp.Null):
        return None
    if isinstance(value, exp.Literal):
        return value.this if value.is_string else value.to_py()
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        return -value.this.to_py()
    if isinstance(value, exp.Boolean):
        return value.this
    raise ImportProblem(f"{path}: row {number}: {value.sql('tsql')} is not a literal value")


def _object(row: dict, number: int, fabric: str, synapse: str, types: dict, result) -> dict:
    """One row as one sync object, noting each field in the report."""
    oid = row.get("object_id")
    if not oid:
        raise ImportProblem(f"{result.source}: row {number} has no object_id")
    oid = str(oid)
    note = result.mapped.append

    def lost(text: str) -> None:
        result.unmapped.append(f"{oid}: {text}")

    direction = str(row.get("sync_direction") or "FABRIC_TO_SYNAPSE").upper()
    if direction not in DIRECTIONS:
        lost(f"sync_direction '{direction}' is unknown: imported as FABRIC_TO_SYNAPSE")
    if direction == "BIDIRECTIONAL":
        lost(
            "sync_direction BIDIRECTIONAL: imported one way, Fabric to Synapse (two-way sync "
            "with conflict resolution is not built yet); add the reverse object if needed"
        )
    source, target = (synapse, fabric) if DIRECTIONS.get(direction) else (fabric, synapse)
    obj: dict = {"object_id": ident(oid)}
    if ident(oid) != oid:
        note(f"{oid}: object_id '{oid}' -> '{ident(oid)}' (letters, digits and _ only)")
    if row.get("object_name"):
        obj["name"] = str(row["object_name"])
    if row.get("description"):
        obj["description"] = str(row["description"])
    obj["active"] = str(row.get("active_yn") or "Y").strip().upper() in ("Y", "YES", "1", "TRUE")
    obj["source"] = _source(row, source, oid, result)
    obj["target"] = {"connection": target, "object": row.get("target_object") or ""}
    if row.get("target_schema"):
        obj["target"]["schema"] = row["target_schema"]
    if not row.get("target_object"):
        lost("target_object is empty: fill in target.object")
    note(f"{oid}: sync_direction {direction} -> source {source}, target {target}")
    obj["sync_type"] = str(row.get("sync_type") or "full").lower()
    for theirs, ours in (("sync_column", "sync_column"), ("filter_condition", "filter_condition")):
        if row.get(theirs):
            obj[ours] = row[theirs]
    if row.get("merge_keys"):
        obj["merge_keys"] = _keys(row["merge_keys"])
    if row.get("batch_size"):
        obj["batch_size"] = int(row["batch_size"])
    _frequency(row, obj, oid, result)
    mappings = _mappings(row.get("column_mappings"), oid, result)
    if mappings is not None:
        obj["column_mappings"] = mappings
    if types.get(source) != "tsql" and _has_sql(obj):
        obj["dialect"] = "tsql"
        note(f"{oid}: filter / mappings / query read as T-SQL (dialect: tsql), transpiled at load")
    for column in sorted(set(row) - _HANDLED):
        if row[column] is not None:
            lost(f"column {column} = {row[column]!r} has no counterpart here")
    return obj


def _source(row: dict, connection: str, oid: str, result) -> dict:
    query = row.get("source_query")
    kind = str(row.get("source_type") or ("QUERY" if query else "TABLE")).upper()
    if query or kind == "QUERY":
        if not query:
            result.unmapped.append(f"{oid}: source_type QUERY without source_query")
        result.mapped.append(f"{oid}: source_query -> source.query")
        return {"connection": connection, "query": " ".join(str(query or "").split())}
    source = {"connection": connection, "object": row.get("source_object") or ""}
    if row.get("source_schema"):
        source["schema"] = row["source_schema"]
    return source


def _frequency(row: dict, obj: dict, oid: str, result) -> None:
    value = row.get("sync_frequency")
    if not value:
        return
    if str(value).upper() == "CUSTOM":
        if row.get("cron"):
            obj["frequency"] = row["cron"]
        else:
            result.unmapped.append(f"{oid}: sync_frequency CUSTOM without a cron column")
        return
    obj["frequency"] = str(value).lower()
    result.mapped.append(f"{oid}: sync_frequency {value} -> frequency {obj['frequency']}")


def _mappings(value, oid: str, result) -> dict | None:
    """Their `target: source expression` as our `source expression: target`."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            result.unmapped.append(f"{oid}: column_mappings is not JSON ({exc.msg}): left out")
            return None
    if not isinstance(value, dict):
        result.unmapped.append(f"{oid}: column_mappings is not a mapping: left out")
        return None
    result.mapped.append(
        f"{oid}: column_mappings (target: source) -> column_mappings (source: target), "
        f"{len(value)} columns; the others are not synced"
    )
    return {str(expr): str(target) for target, expr in value.items()}


def _keys(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [k.strip() for k in text.split(",") if k.strip()]


def _has_sql(obj: dict) -> bool:
    expressions = [e for e in obj.get("column_mappings") or {} if not _PLAIN.fullmatch(e)]
    return bool(obj.get("filter_condition") or obj["source"].get("query") or expressions)
