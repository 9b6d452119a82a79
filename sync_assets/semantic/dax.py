"""The safe subset of DAX measures as Snowflake metric expressions, or a reason why not.

Translated: SUM, MIN, MAX, AVERAGE, COUNT, COUNTA, COUNTROWS, DISTINCTCOUNT over a column,
DIVIDE (as `a / NULLIF(b, 0)`, DAX's blank on a zero divisor; its third argument as the
COALESCE), + - * / and unary minus over numbers and other measures (inlined, so a metric
never depends on the order views are created), and CALCULATE(<expression>, <filters>) where
each filter is `Table[column] <op> <literal>` (=, <>, <, <=, >, >=; string, number, TRUE,
FALSE): the filters move into each aggregate as `AGG(CASE WHEN <filter> THEN <x> END)`.

Everything else (VAR, iterators such as SUMX, FILTER, ALL, time intelligence, context
transition, BLANK semantics beyond DIVIDE) is refused with the reason, so no metric is ever
silently different from its measure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

AGGREGATES = {
    "SUM": "SUM",
    "MIN": "MIN",
    "MAX": "MAX",
    "AVERAGE": "AVG",
    "COUNT": "COUNT",
    "COUNTA": "COUNT",
    "DISTINCTCOUNT": "COUNT",
}
COMPARISONS = ("<=", ">=", "<>", "=", "<", ">")
FUNCTIONS = {*AGGREGATES, "COUNTROWS", "DIVIDE", "CALCULATE"}


class Untranslatable(ValueError):
    """A DAX expression outside the subset; the message is the reason."""


@dataclass(frozen=True)
class Translation:
    """A measure's metric expression (None when refused) and the reason it was refused."""

    sql: str | None
    refused: str | None = None


# a column reference -> its SQL (e.g. `sales.amount`); a table name -> its alias
ColumnSql = Callable[[str, str], str]


def translate(
    expression: str,
    measures: dict[str, str],
    column_sql: ColumnSql,
    home_table: str,
) -> Translation:
    """`expression` (a measure of `home_table`) as SQL; `measures` are the model's measures
    (name -> DAX) that it may reference; `column_sql(table, column)` spells a column."""
    try:
        tree = _Parser(expression, home_table).parse()
        return Translation(_Emitter(measures, column_sql, home_table).sql(tree, ()))
    except Untranslatable as exc:
        return Translation(None, str(exc))


# --------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"]|"")*")
  | (?P<col>(?:'(?:[^']|'')*'|[A-Za-z_][\w.]*)?\[[^\]]+\])
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<tbl>'(?:[^']|'')*')
  | (?P<op><=|>=|<>|&&|\|\||[-+*/(),=<>&])
  | (?P<comment>//[^\n]*|--[^\n]*|/\*.*?\*/)
    )""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise Untranslatable(f"cannot read DAX near: {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "comment":
            out.append((kind, match.group(kind)))
    return out


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Num:
    text: str


@dataclass(frozen=True)
class Str:
    text: str  # without quotes


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Col:
    table: str
    column: str


@dataclass(frozen=True)
class Table:
    name: str


@dataclass(frozen=True)
class MeasureRef:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True)
class Bin:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


class _Parser:
    """expression := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ;
    unary := '-' unary | atom ; atom := number | string | column | [measure] | call | (expr)
    A comparison is parsed only where CALCULATE takes a filter."""

    def __init__(self, text: str, home_table: str):
        self.tokens = _tokens(text)
        self.pos = 0
        self.home = home_table

    def parse(self):
        if not self.tokens:
            raise Untranslatable("the measure has no expression")
        tree = self.expression()
        if self.pos != len(self.tokens):
            raise Untranslatable(f"unexpected {self.tokens[self.pos][1]!r}")
        return tree

    def peek(self, value: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        return value is None or self.tokens[self.pos][1].upper() == value

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise Untranslatable("the expression ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value:
            raise Untranslatable(f"expected {value!r}, found {text!r}")

    def expression(self):
        left = self.term()
        while self.peek("+") or self.peek("-"):
            op = self.take()[1]
            left = Bin(op, left, self.term())
        if self.peek("&") or self.peek("&&") or self.peek("||"):
            raise Untranslatable(f"operator {self.tokens[self.pos][1]!r} is not in the subset")
        return left

    def term(self):
        left = self.unary()
        while self.peek("*") or self.peek("/"):
            op = self.take()[1]
            left = Bin(op, left, self.unary())
        return left

    def unary(self):
        if self.peek("-"):
            self.take()
            return Neg(self.unary())
        return self.atom()

    def atom(self):
        kind, text = self.take()
        if kind == "num":
            return Num(text)
        if kind == "str":
            return Str(text[1:-1].replace('""', '"'))
        if kind == "col":
            return self.column(text)
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "name":
            upper = text.upper()
            if upper in ("TRUE", "FALSE"):
                if self.peek("("):
                    self.take()
                    self.expect(")")
                return Bool(upper == "TRUE")
            if upper == "VAR":
                raise Untranslatable("VAR / RETURN is not in the subset")
            if not self.peek("("):
                raise Untranslatable(f"'{text}' is not a column, a measure or a function call")
            if upper not in FUNCTIONS:
                raise Untranslatable(f"{upper} is not in the subset")
            self.take()
            if upper == "COUNTROWS":
                return Call(upper, (self.table(),))
            args = []
            while not self.peek(")"):
                args.append(self.filter() if upper == "CALCULATE" and args else self.expression())
                if self.peek(","):
                    self.take()
            self.expect(")")
            return Call(upper, tuple(args))
        raise Untranslatable(f"unexpected {text!r}")

    def table(self):
        """COUNTROWS's argument: a table name, then `)`."""
        kind, text = self.take()
        if kind not in ("name", "tbl") or self.peek("("):
            raise Untranslatable("COUNTROWS of something other than a table")
        self.expect(")")
        return Table(text[1:-1].replace("''", "'") if kind == "tbl" else text)

    def filter(self):
        """`Table[column] <op> <literal>` (CALCULATE's filter arguments)."""
        left = self.expression()
        if not isinstance(left, Col):
            raise Untranslatable("a CALCULATE filter other than Table[column] = literal")
        if not any(self.peek(op) for op in COMPARISONS):
            raise Untranslatable("a CALCULATE filter other than Table[column] = literal")
        op = self.take()[1]
        right = self.unary()
        if isinstance(right, Neg) and isinstance(right.operand, Num):
            right = Num("-" + right.operand.text)
        if not isinstance(right, (Num, Str, Bool)):
            raise Untranslatable(
                "a CALCULATE filter compares a column with something not a literal"
            )
        return Bin(op, left, right)

    def column(self, text: str):
        bracket = text.index("[", 1 if text.startswith("'") else 0)
        table, column = text[:bracket], text[bracket + 1 : -1]
        if not table:
            return MeasureRef(column)
        if table.startswith("'"):
            table = table[1:-1].replace("''", "'")
        return Col(table, column)


# --------------------------------------------------------------------------- SQL


class _Emitter:
    def __init__(self, measures: dict[str, str], column_sql: ColumnSql, home: str):
        self.measures, self.column_sql, self.home = measures, column_sql, home

    def sql(self, node, filters: tuple, seen: tuple = ()) -> str:
        if isinstance(node, Num):
            return node.text
        if isinstance(node, Str):
            raise Untranslatable("a text value as a metric")
        if isinstance(node, Col):
            raise Untranslatable(f"column {node.table}[{node.column}] outside an aggregate")
        if isinstance(node, Neg):
            return f"-({self.sql(node.operand, filters, seen)})"
        if isinstance(node, Bin):
            left = self.sql(node.left, filters, seen)
            right = self.sql(node.right, filters, seen)
            return f"({left} {node.op} {right})"
        if isinstance(node, MeasureRef):
            return self.measure(node.name, filters, seen)
        if isinstance(node, Call):
            return self.call(node, filters, seen)
        raise Untranslatable(f"{node!r} is not in the subset")

    def measure(self, name: str, filters: tuple, seen: tuple) -> str:
        if name not in self.measures:
            raise Untranslatable(f"[{name}] is not a measure of the model")
        if name in seen:
            raise Untranslatable(f"[{name}] refers to itself")
        inner = _Parser(self.measures[name], self.home).parse()
        return f"({self.sql(inner, filters, (*seen, name))})"

    def call(self, node: Call, filters: tuple, seen: tuple) -> str:
        name, args = node.name, node.args
        if name in AGGREGATES:
            if len(args) != 1 or not isinstance(args[0], Col):
                raise Untranslatable(f"{name} of something other than one column")
            column = self.column_sql(args[0].table, args[0].column)
            distinct = "DISTINCT " if name == "DISTINCTCOUNT" else ""
            value = self.filtered(column, args[0].table, filters)
            return f"{AGGREGATES[name]}({distinct}{value})"
        if name == "COUNTROWS":
            table = args[0].name
            return f"COUNT({self.filtered('1', table, filters)})" if filters else "COUNT(*)"
        if name == "DIVIDE":
            if len(args) not in (2, 3):
                raise Untranslatable("DIVIDE takes two or three arguments")
            quotient = (
                f"({self.sql(args[0], filters, seen)} / "
                f"NULLIF({self.sql(args[1], filters, seen)}, 0))"
            )
            if len(args) == 3:
                return f"COALESCE({quotient}, {self.sql(args[2], filters, seen)})"
            return quotient
        if name == "CALCULATE":
            if not args:
                raise Untranslatable("CALCULATE without an expression")
            conditions = tuple(self.condition(f) for f in args[1:])
            return self.sql(args[0], filters + conditions, seen)
        raise Untranslatable(f"{name} is not in the subset")

    def filtered(self, value: str, table: str, filters: tuple) -> str:
        """`value` of the rows the filters keep (each filter is (table, SQL condition))."""
        if not filters:
            return value
        other = [t for t, _ in filters if t != table]
        if other:
            raise Untranslatable(
                f"a CALCULATE filter on table '{other[0]}' applied to '{table}' (a filter "
                "through a relationship)"
            )
        return f"CASE WHEN {' AND '.join(c for _, c in filters)} THEN {value} END"

    def condition(self, node: Bin) -> tuple[str, str]:
        column = self.column_sql(node.left.table, node.left.column)
        return node.left.table, f"{column} {node.op} {_literal(node.right)}"


def _literal(node) -> str:
    if isinstance(node, Str):
        return "'" + node.text.replace("'", "''") + "'"
    if isinstance(node, Bool):
        return "TRUE" if node.value else "FALSE"
    return node.text
