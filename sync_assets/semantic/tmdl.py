"""TMDL (Tabular Model Definition Language) read into a tree of declarations.

TMDL is indentation-structured text (https://learn.microsoft.com/analysis-services/tmdl/):

    /// The sales fact
    table Sales
        lineageTag: 7c1e...

        measure 'Total Sales' = SUM(Sales[Amount])
            formatString: #,0.00

        measure Margin =
                VAR cost = SUM(Sales[Cost])
                RETURN [Total Sales] - cost
            formatString: 0.0%

        column Amount
            dataType: decimal
            sourceColumn: Amount

        partition Sales = entity
            mode: directLake
            source
                entityName: sales
                schemaName: dbo

A declaration is `<type> <name>[ = <default expression>]`; its properties (`name: value`,
`name = expression`, or a bare flag such as `isHidden`) and child declarations are indented
one level deeper. An expression continues on the lines indented deeper than the
declaration's properties, or between ``` fences. Names with spaces or punctuation are in
single quotes (`''` is a quote). `///` lines describe the next declaration. The Python
packages for TMDL we found (tmdl-parser, pytmdl, powerbi-tmdl-tools) are young one-author
projects, and the grammar is small: this parser is ours, tested on samples of every shape
we read (test_semantic_parse.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# declaration keywords we model; any other `word name` line at object level is kept as a
# declaration of that type too (so an unknown object never turns into a property)
OBJECTS = {
    "database", "model", "table", "column", "measure", "partition", "relationship",
    "hierarchy", "level", "annotation", "extendedProperty", "calculationGroup",
    "calculationItem", "expression", "role", "perspective", "culture", "cultureInfo",
    "dataSource", "tablePermission", "changedProperty", "queryGroup", "linguisticMetadata",
    "function", "calendar", "ref", "formatStringDefinition", "source",
}  # fmt: skip


class TmdlError(ValueError):
    """A TMDL text that cannot be read; says the file and line."""


@dataclass
class Node:
    """One declaration: its type, name, default expression, properties and children."""

    type: str
    name: str | None
    value: str | None = None  # the `= ...` of the declaration line (expressions joined)
    props: dict[str, str | bool] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    description: str | None = None
    line: int = 0

    def all(self, kind: str) -> list[Node]:
        return [c for c in self.children if c.type == kind]

    def first(self, kind: str) -> Node | None:
        found = self.all(kind)
        return found[0] if found else None


@dataclass
class _Line:
    number: int
    indent: int
    text: str


def parse(text: str, source: str = "<tmdl>") -> list[Node]:
    """The top-level declarations of one TMDL document."""
    # the document is the body of a root that every line is deeper than
    root, _ = _body(_lines(text), 0, Node("document", None), -1, source)
    return root.children


def unquote(name: str) -> str:
    """`'Order Date'` -> Order Date (`''` is a quote); plain names as they are."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == "'":
        return name[1:-1].replace("''", "'")
    return name


def split_reference(ref: str) -> tuple[str, str]:
    """`'Sales Data'.'Order Date'` or `Sales.OrderDate` -> (table, column)."""
    match = re.fullmatch(r"\s*('(?:[^']|'')*'|[^.'\s]+)\.('(?:[^']|'')*'|.+?)\s*", ref)
    if not match:
        raise TmdlError(f"'{ref}' is not a table.column reference")
    return unquote(match.group(1)), unquote(match.group(2))


# --------------------------------------------------------------------------- internals


def _lines(text: str) -> list[_Line]:
    out = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        expanded = raw.replace("\t", "    ")
        stripped = expanded.strip()
        indent = len(expanded) - len(expanded.lstrip(" "))
        out.append(_Line(number, indent if stripped else -1, stripped))
    return out


_DECL = re.compile(r"^(\w+)(?:\s+('(?:[^']|'')*'|[^=:]+?))?\s*(?:=\s*(.*))?$")
_PROP = re.compile(r"^(\w+)\s*:\s*(.*)$")
_EXPR_PROP = re.compile(r"^(\w+)\s*=\s*(.*)$")


def _declaration(lines: list[_Line], pos: int, source: str):
    line = lines[pos]
    match = _DECL.match(line.text)
    if not match:
        raise TmdlError(f"{source}:{line.number}: not a declaration: {line.text[:80]}")
    kind, name, value = match.group(1), match.group(2), match.group(3)
    node = Node(kind, unquote(name) if name else None, line=line.number)
    pos += 1
    if value is not None:
        node.value, pos = _expression(lines, pos, line.indent, value, source)
    return _body(lines, pos, node, line.indent, source)


def _body(lines: list[_Line], pos: int, node: Node, indent: int, source: str):
    """The properties and child declarations of `node` (lines deeper than `indent`)."""
    level = None
    description: list[str] = []
    while pos < len(lines):
        line = lines[pos]
        if line.indent < 0:
            pos += 1
            continue
        if line.indent <= indent:
            break
        if level is None:
            level = line.indent
        if line.indent != level:
            raise TmdlError(f"{source}:{line.number}: unexpected indentation")
        text = line.text
        if text.startswith("///"):
            description.append(text[3:].strip())
            pos += 1
            continue
        first = re.match(r"^(\w+)", text)
        word = first.group(1) if first else ""
        prop, expr_prop = _PROP.match(text), _EXPR_PROP.match(text)
        if prop and (word not in OBJECTS or ":" in text.split()[0]):
            node.props[prop.group(1)] = prop.group(2).strip()
            pos += 1
        elif expr_prop and word not in OBJECTS:
            value, pos = _expression(lines, pos + 1, line.indent, expr_prop.group(2), source)
            node.props[expr_prop.group(1)] = value
        elif word in OBJECTS or (len(text.split()) > 1 and not prop) or _has_body(lines, pos):
            child, pos = _declaration(lines, pos, source)
            child.description = "\n".join(description) or None
            description = []
            node.children.append(child)
        elif re.fullmatch(r"\w+", text):
            node.props[text] = True  # a flag: isHidden, isNameInferred, ...
            pos += 1
        else:
            raise TmdlError(f"{source}:{line.number}: cannot read: {text[:80]}")
    return node, pos


def _has_body(lines: list[_Line], pos: int) -> bool:
    """Whether the lines after `pos` are indented deeper than it (an object, not a flag)."""
    for line in lines[pos + 1 :]:
        if line.indent >= 0:
            return line.indent > lines[pos].indent
    return False


def _expression(lines: list[_Line], pos: int, indent: int, head: str, source: str):
    """An expression that starts with `head` after the `=` of a line indented `indent`, and
    continues on the lines indented at least two levels deeper than that line (one level
    deeper than its properties), blank lines included; or between ``` fences."""
    head = head.strip()
    fenced = head == "```" or (not head and pos < len(lines) and lines[pos].text == "```")
    if fenced:
        start = pos if head else pos + 1
        for end in range(start, len(lines)):
            if lines[end].text == "```":
                return _dedent(lines[start:end]), end + 1
        raise TmdlError(f"{source}:{lines[start - 1].number}: ``` block is never closed")
    deeper = indent + 2 * _unit(lines)
    end = pos
    while end < len(lines) and (lines[end].indent < 0 or lines[end].indent >= deeper):
        end += 1
    while end > pos and lines[end - 1].indent < 0:  # trailing blank lines are not in it
        end -= 1
    rest = _dedent(lines[pos:end])
    return "\n".join(p for p in (head, rest) if p), end


def _unit(lines: list[_Line]) -> int:
    """The width of one indentation level (a tab is 4 spaces)."""
    widths = [line.indent for line in lines if line.indent > 0]
    return min(widths) if widths else 4


def _dedent(body: list[_Line]) -> str:
    real = [line for line in body if line.indent >= 0]
    if not real:
        return ""
    least = min(line.indent for line in real)
    return "\n".join(
        (" " * (line.indent - least) + line.text) if line.indent >= 0 else "" for line in body
    ).strip("\n")
