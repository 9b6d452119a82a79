"""A semantic model as a Snowflake semantic view over its tables' copies in Snowflake:

    CREATE OR REPLACE SEMANTIC VIEW <name>
      TABLES (<alias> AS <table> [PRIMARY KEY (...)] COMMENT = ..., ...)
      RELATIONSHIPS (<name> AS <alias> (<column>) REFERENCES <alias> (<column>), ...)
      FACTS (<alias>.<fact> AS <alias>.<column>, ...)          -- numeric columns
      DIMENSIONS (<alias>.<dimension> AS <alias>.<column>, ...) -- the other columns
      METRICS (<alias>.<metric> AS <translated DAX> COMMENT = ..., ...)

Every logical table, fact, dimension and metric is named in snake case from the model's own
name (`Order Date` -> order_date); columns are the physical ones the model reads
(`sourceColumn`), spelled as the table's copy in Snowflake holds them. What a semantic view
cannot say is left out and listed, never approximated: measures outside the DAX subset
(dax.py), calculated columns, hidden columns as facts or dimensions (they still serve as
keys), inactive and many-to-many relationships.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sync_assets.semantic.dax import Untranslatable, translate
from sync_assets.semantic.model import SemanticModel, Table
from sync_assets.sql.literals import quote_ident, quote_string

NUMERIC = {"int64", "decimal", "double"}


@dataclass
class SemanticView:
    """The statement, and what of the model it does not carry (with reasons)."""

    sql: str
    # (table, measure) -> its metric expression, or the reason it has none
    metrics: dict[tuple[str, str], str] = field(default_factory=dict)
    refused_measures: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def snake(name: str) -> str:
    """A Snowflake identifier from a model name: `Order Date` -> order_date."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "x"
    return f"_{text}" if text[0].isdigit() else text


def semantic_view_sql(
    model: SemanticModel,
    view_name: str,
    table_name: Callable[[str], str | None],
    comment: str | None = None,
) -> SemanticView:
    """`model` as CREATE OR REPLACE SEMANTIC VIEW `view_name` (already qualified and
    quoted); `table_name(model table)` is its Snowflake table (qualified, quoted), or None
    when the table has no copy in Snowflake (it is then left out, and so is what uses it)."""
    result = SemanticView("")
    tables = {t.name: t for t in model.tables if table_name(t.name)}
    for t in model.tables:
        if t.name not in tables:
            result.notes.append(f"table '{t.name}': no copy in Snowflake, left out")
    aliases = {name: snake(name) for name in tables}
    keys = _referenced_keys(model, tables, result)

    def column_sql(table: str, column: str) -> str:
        physical = _physical(tables.get(table), column)
        if physical is None:
            raise Untranslatable(f"column {table}[{column}] has no physical column in Snowflake")
        return f"{aliases[table]}.{quote_ident(physical)}"

    clauses = [
        _tables_clause(tables, aliases, keys, table_name),
        _relationships_clause(model, tables, aliases, result),
        *_columns_clauses(tables, aliases, result),
        _metrics_clause(model, tables, aliases, column_sql, result),
    ]
    body = "\n".join(c for c in clauses if c)
    note = f"\n  COMMENT = {quote_string(comment)}" if comment else ""
    result.sql = f"CREATE OR REPLACE SEMANTIC VIEW {view_name}\n{body}{note}"
    return result


def _physical(table: Table | None, column: str) -> str | None:
    if table is None:
        return None
    for c in table.columns:
        if c.name == column:
            return c.source_column if c.expression is None else None
    return None


def _referenced_keys(model, tables, result) -> dict[str, list[str]]:
    """Physical columns each table is referenced by (its PRIMARY KEY / UNIQUE keys)."""
    keys: dict[str, list[str]] = {}
    for r in _usable(model, tables, result):
        physical = _physical(tables[r.to_table], r.to_column)
        if physical and physical not in keys.setdefault(r.to_table, []):
            keys[r.to_table].append(physical)
    return keys


def _usable(model, tables, result=None):
    """Relationships a semantic view can hold (notes the others once, when `result`)."""
    for r in model.relationships:
        why = None
        if r.from_table not in tables or r.to_table not in tables:
            why = "a table has no copy in Snowflake"
        elif not r.active:
            why = "inactive (a semantic view has no inactive relationships)"
        elif r.to_cardinality != "one":
            why = f"{r.from_cardinality}-to-{r.to_cardinality} (only many-to-one and one-to-one)"
        elif None in (
            _physical(tables[r.from_table], r.from_column),
            _physical(tables[r.to_table], r.to_column),
        ):
            why = "a column of it has no physical column"
        if why is None:
            yield r
        elif result is not None:
            result.notes.append(
                f"relationship {r.from_table}[{r.from_column}] -> {r.to_table}[{r.to_column}]: {why}, left out"
            )


def _tables_clause(tables, aliases, keys, table_name) -> str:
    lines = []
    for name in tables:
        line = f"    {aliases[name]} AS {table_name(name)}"
        table_keys = keys.get(name, [])
        if table_keys:
            line += f" PRIMARY KEY ({quote_ident(table_keys[0])})"
            line += "".join(f" UNIQUE ({quote_ident(k)})" for k in table_keys[1:])
        line += f" COMMENT = {quote_string(f'Power BI table {name}')}"
        lines.append(line)
    return "  TABLES (\n" + ",\n".join(lines) + "\n  )"


def _relationships_clause(model, tables, aliases, result) -> str:
    lines = []
    for r in _usable(model, tables):
        source = quote_ident(_physical(tables[r.from_table], r.from_column))
        target = quote_ident(_physical(tables[r.to_table], r.to_column))
        name = snake(f"{r.from_table}_{r.from_column}_to_{r.to_table}")
        lines.append(
            f"    {name} AS {aliases[r.from_table]} ({source}) REFERENCES "
            f"{aliases[r.to_table]} ({target})"
        )
        if r.cross_filter == "bothDirections":
            result.notes.append(
                f"relationship {r.from_table}[{r.from_column}] -> {r.to_table}: "
                "filters both ways in Power BI; a semantic view joins many-to-one"
            )
    return "  RELATIONSHIPS (\n" + ",\n".join(lines) + "\n  )" if lines else ""


def _columns_clauses(tables, aliases, result) -> list[str]:
    facts, dimensions = [], []
    for name, table in tables.items():
        used: set[str] = set()
        for c in table.columns:
            if c.expression is not None:
                result.notes.append(f"column {name}[{c.name}]: a calculated column (DAX), left out")
                continue
            if c.hidden or not c.source_column:
                continue
            ident = _unique(snake(c.name), used)
            line = f"    {aliases[name]}.{ident} AS {aliases[name]}.{quote_ident(c.source_column)}"
            (facts if c.data_type in NUMERIC else dimensions).append(line)
    return [
        "  FACTS (\n" + ",\n".join(facts) + "\n  )" if facts else "",
        "  DIMENSIONS (\n" + ",\n".join(dimensions) + "\n  )" if dimensions else "",
    ]


def _metrics_clause(model, tables, aliases, column_sql, result) -> str:
    dax = {m.name: m.expression for t in model.tables for m in t.measures}
    lines = []
    for name, table in tables.items():
        used: set[str] = set()
        for m in table.measures:
            translation = translate(m.expression, dax, column_sql, name)
            if translation.sql is None:
                result.refused_measures[(name, m.name)] = translation.refused
                continue
            result.metrics[(name, m.name)] = translation.sql
            ident = _unique(snake(m.name), used)
            comment = quote_string(f"Power BI measure [{m.name}]")
            lines.append(f"    {aliases[name]}.{ident} AS {translation.sql} COMMENT = {comment}")
    return "  METRICS (\n" + ",\n".join(lines) + "\n  )" if lines else ""


def _unique(ident: str, used: set[str]) -> str:
    candidate, n = ident, 2
    while candidate in used:
        candidate, n = f"{ident}_{n}", n + 1
    used.add(candidate)
    return candidate
