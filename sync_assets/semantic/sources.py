"""Where a semantic model's tables read their data, and which of our connections that is.

A Direct Lake partition names an entity (`schemaName`.`entityName`) of the lakehouse or
warehouse its `expressionSource` points at; that named expression is M such as
`Sql.Database("<endpoint>", "<database>")` (Direct Lake over SQL) or
`AzureStorage.DataLake("https://onelake.dfs.fabric.microsoft.com/<workspace>/<lakehouse>")`
(Direct Lake on OneLake). An import or DirectQuery partition's own M names the database the
same way and navigates to one table: `Source{[Schema="dim", Item="dates"]}[Data]`.

A source matches a connection when `semantic_models.sync_tables.sources` maps its expression
name (or its `server/database`, `workspace/lakehouse`) to one, or else when exactly one
connection has the same server and database (tsql) or workspace and lakehouse
(fabric_lakehouse). Only what this module can read is synced; every other table is
reported with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sync_assets.semantic.model import SemanticModel, Table

_SQL = re.compile(r'Sql\.Databases?\(\s*"([^"]+)"\s*(?:,\s*"([^"]+)")?', re.I)
_ONELAKE = re.compile(r'AzureStorage\.DataLake\(\s*"https://([^/"]+)/([^/"]+)/([^/"?]+)', re.I)
_NAVIGATE = re.compile(r'\{\s*\[\s*Schema\s*=\s*"([^"]+)"\s*,\s*Item\s*=\s*"([^"]+)"\s*\]\s*\}')


@dataclass(frozen=True)
class Location:
    """A database a model reads: a SQL endpoint (server, database) or a OneLake item
    (workspace, lakehouse); `expression` is the model expression naming it, if any."""

    kind: str  # sql | onelake
    first: str  # server | workspace
    second: str  # database | lakehouse
    expression: str | None = None

    @property
    def label(self) -> str:
        return f"{self.first}/{self.second}"


@dataclass(frozen=True)
class TableSource:
    """One model table's data: the table `schema`.`table` of `location`."""

    model_table: str
    location: Location
    schema: str | None
    table: str


def locate(m_text: str | None, expression: str | None = None) -> Location | None:
    """The database an M expression opens, or None when it opens none we read."""
    if not m_text:
        return None
    if found := _ONELAKE.search(m_text):
        return Location("onelake", found.group(2), found.group(3), expression)
    if (found := _SQL.search(m_text)) and found.group(2):
        return Location("sql", found.group(1), found.group(2), expression)
    return None


def table_sources(model: SemanticModel) -> tuple[list[TableSource], dict[str, str]]:
    """(the tables whose data we can name, {other table: why not})."""
    found, skipped = [], {}
    for table in model.tables:
        source = _table_source(model, table)
        if isinstance(source, str):
            skipped[table.name] = source
        else:
            found.append(source)
    return found, skipped


def _table_source(model: SemanticModel, table: Table) -> TableSource | str:
    if not table.partitions:
        return "it has no partition (a calculated or calculation-group table)"
    if len(table.partitions) > 1:
        return f"it has {len(table.partitions)} partitions; only single-partition tables are synced"
    [part] = table.partitions
    if part.entity:
        name = part.expression_source
        location = locate(model.expressions.get(name or ""), name)
        if location is None:
            return f"its expression source {name!r} opens no SQL endpoint or OneLake item"
        return TableSource(table.name, location, part.schema, part.entity)
    if part.kind == "m":
        location = locate(part.source)
        navigation = _NAVIGATE.search(part.source or "")
        if location is None or navigation is None:
            return "its M source names no Sql.Database / OneLake table we can read"
        return TableSource(table.name, location, navigation.group(1), navigation.group(2))
    return f"its partition is {part.kind or 'of no kind'}, not an entity or M table"


def match_connection(location: Location, connections: dict, mapping: dict[str, str]) -> str | None:
    """The connection `location` is: by `mapping` (expression name or label), else the one
    connection with the same server and database / workspace and lakehouse."""
    for key in (location.expression, location.label):
        if key and key in mapping:
            return mapping[key]
    same = [name for name, conn in connections.items() if _same(location, conn)]
    return same[0] if len(same) == 1 else None


def _same(location: Location, conn) -> bool:
    if location.kind == "sql" and conn.type == "tsql":
        server = (getattr(conn, "server", None) or "").lower()
        server = server.removeprefix("tcp:").split(",")[0]
        return server == location.first.lower() and (conn.database or "").lower() == (
            location.second.lower()
        )
    if location.kind == "onelake" and conn.type == "fabric_lakehouse":
        lakehouse = conn.lakehouse.removesuffix(".Lakehouse").lower()
        return conn.workspace.lower() == location.first.lower() and lakehouse == (
            location.second.removesuffix(".Lakehouse").lower()
        )
    return False
