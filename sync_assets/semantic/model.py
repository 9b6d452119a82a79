"""One semantic model, whether it was written as TMDL (a PBIP folder or the Fabric API's
TMDL parts) or as TMSL (`model.bim`): its tables, columns, measures, relationships and
partitions, and a hash of its normalized definition (what "changed" means between polls).

Calculation groups are read but not modelled (their items are DAX over other measures,
with no table of their own): each is listed in `notes`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from sync_assets.semantic import tmdl


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str | None
    source_column: str | None = None
    hidden: bool = False
    expression: str | None = None  # calculated columns


@dataclass(frozen=True)
class Measure:
    name: str
    expression: str
    format_string: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Partition:
    name: str
    mode: str | None  # import, directQuery, directLake (default: the model's)
    kind: str | None  # m, entity, calculated, ...
    source: str | None = None  # the M (or DAX) expression
    entity: str | None = None  # Direct Lake: the lakehouse / warehouse table it reads
    schema: str | None = None
    # Direct Lake: the model's named expression (`DatabaseQuery`) saying where `entity` is
    expression_source: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...] = ()
    measures: tuple[Measure, ...] = ()
    partitions: tuple[Partition, ...] = ()
    hidden: bool = False


@dataclass(frozen=True)
class Relationship:
    name: str
    from_table: str
    from_column: str
    to_table: str
    to_column: str
    from_cardinality: str = "many"
    to_cardinality: str = "one"
    active: bool = True
    cross_filter: str = "oneDirection"


@dataclass
class SemanticModel:
    """A model as read; `notes` say what was read but is not represented."""

    name: str
    tables: list[Table] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    # shared M expressions by name (`DatabaseQuery = Sql.Database(...)`): the data sources
    expressions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def definition_hash(self) -> str:
        """sha256 of the normalized model: tables, columns, measures and relationships in
        name order, whitespace of expressions collapsed; lineage tags, annotations and
        file layout do not count."""
        data = asdict(self)
        data.pop("notes")
        data["tables"] = sorted(data["tables"], key=lambda t: t["name"])
        for table in data["tables"]:
            for key in ("columns", "measures", "partitions"):
                table[key] = sorted(table[key], key=lambda x: x["name"])
        data["relationships"] = sorted(
            data["relationships"], key=lambda r: (r["from_table"], r["from_column"], r["name"])
        )
        text = json.dumps(_collapse(data), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _collapse(value):
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_collapse(v) for v in value]
    if isinstance(value, dict):
        return {k: _collapse(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- TMDL


def from_tmdl(parts: dict[str, str], name: str | None = None) -> SemanticModel:
    """A model from its TMDL files (`definition/model.tmdl`, `definition/tables/*.tmdl`,
    `definition/relationships.tmdl`, ...; path -> text). Other files are ignored."""
    nodes: list[tmdl.Node] = []
    for path in sorted(parts):
        if path.endswith(".tmdl"):
            nodes += tmdl.parse(parts[path], path)
    model_node = next((n for n in nodes if n.type == "model"), None)
    model = SemanticModel(name or (model_node.name if model_node else "Model"))
    for node in _walk(nodes):
        if node.type == "table":
            model.tables.append(_table(node, model))
        elif node.type == "relationship":
            model.relationships.append(_relationship(node))
        elif node.type == "expression" and node.name:
            model.expressions[tmdl.unquote(node.name)] = node.value or ""
    return model


def _walk(nodes: list[tmdl.Node]):
    """Tables, relationships and expressions, top level or inside `model`."""
    for node in nodes:
        if node.type in ("table", "relationship", "expression"):
            yield node
        elif node.type == "model":
            yield from _walk(node.children)


def _table(node: tmdl.Node, model: SemanticModel) -> Table:
    if node.first("calculationGroup") is not None:
        model.notes.append(f"table '{node.name}' is a calculation group: its items are not synced")
    columns = tuple(
        Column(
            c.name,
            _text(c.props.get("dataType")),
            _text(c.props.get("sourceColumn")),
            c.props.get("isHidden") is True,
            c.value,
        )
        for c in node.all("column")
    )
    measures = tuple(
        Measure(
            m.name,
            m.value or "",
            _text(m.props.get("formatString")),
            m.props.get("isHidden") is True,
        )
        for m in node.all("measure")
    )
    return Table(
        node.name,
        columns,
        measures,
        tuple(_partition(p) for p in node.all("partition")),
        node.props.get("isHidden") is True,
    )


def _partition(node: tmdl.Node) -> Partition:
    source = node.first("source")
    props = source.props if source else {}
    return Partition(
        node.name,
        _text(node.props.get("mode")),
        node.value,
        (source.value if source else None) or _text(node.props.get("source")),
        _text(props.get("entityName")),
        _text(props.get("schemaName")),
        _text(props.get("expressionSource")),
    )


def _relationship(node: tmdl.Node) -> Relationship:
    from_table, from_column = tmdl.split_reference(str(node.props["fromColumn"]))
    to_table, to_column = tmdl.split_reference(str(node.props["toColumn"]))
    return Relationship(
        node.name,
        from_table,
        from_column,
        to_table,
        to_column,
        _text(node.props.get("fromCardinality")) or "many",
        _text(node.props.get("toCardinality")) or "one",
        str(node.props.get("isActive", "true")).lower() != "false",
        _text(node.props.get("crossFilteringBehavior")) or "oneDirection",
    )


def _text(value) -> str | None:
    return None if value is None or value is True else tmdl.unquote(str(value))


# --------------------------------------------------------------------------- TMSL


def from_tmsl(bim: str | dict, name: str | None = None) -> SemanticModel:
    """A model from TMSL (`model.bim`: {"name", "model": {"tables", "relationships"}})."""
    doc = json.loads(bim) if isinstance(bim, str) else bim
    body = doc.get("model", doc)
    model = SemanticModel(name or doc.get("name") or body.get("name") or "Model")
    for t in body.get("tables", []):
        if t.get("calculationGroup"):
            model.notes.append(
                f"table '{t['name']}' is a calculation group: its items are not synced"
            )
        model.tables.append(
            Table(
                t["name"],
                tuple(
                    Column(
                        c["name"],
                        c.get("dataType"),
                        c.get("sourceColumn"),
                        bool(c.get("isHidden")),
                        _joined(c.get("expression")),
                    )
                    for c in t.get("columns", [])
                ),
                tuple(
                    Measure(
                        m["name"],
                        _joined(m.get("expression")) or "",
                        m.get("formatString"),
                        bool(m.get("isHidden")),
                    )
                    for m in t.get("measures", [])
                ),
                tuple(_tmsl_partition(p) for p in t.get("partitions", [])),
                bool(t.get("isHidden")),
            )
        )
    for e in body.get("expressions", []):
        model.expressions[e["name"]] = _joined(e.get("expression")) or ""
    for r in body.get("relationships", []):
        model.relationships.append(
            Relationship(
                r.get("name", ""),
                r["fromTable"],
                r["fromColumn"],
                r["toTable"],
                r["toColumn"],
                r.get("fromCardinality", "many"),
                r.get("toCardinality", "one"),
                r.get("isActive", True) is not False,
                r.get("crossFilteringBehavior", "oneDirection"),
            )
        )
    return model


def _tmsl_partition(p: dict) -> Partition:
    source = p.get("source", {})
    return Partition(
        p["name"],
        p.get("mode"),
        source.get("type"),
        _joined(source.get("expression")),
        source.get("entityName"),
        source.get("schemaName"),
        source.get("expressionSource"),
    )


def _joined(value) -> str | None:
    """TMSL writes long expressions as a list of lines."""
    if isinstance(value, list):
        return "\n".join(value)
    return value
