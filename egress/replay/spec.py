"""What a table was made of, so that the airlock can make it again: the replay specification.

The analysis library (:mod:`egress.tables`) records, beside each table, which extract table
it read, which of its variables are the rows and the columns, which statistic of which
variable fills the cells, and the filter that chose the rows. Filters are written in a
small declared grammar (:data:`GRAMMAR`), parsed by an LALR parser (lark) into the
dataclasses below: nothing is ever evaluated as Python, and a filter can only name
variables, which the replay looks up among the named extract table's columns and nowhere
else.

    age >= 18 and age < 65
    sex == "F" and region in ("11", "24", "75")
    age between 18 and 64 or (code_cim != "C50" and year >= 2019)

A variable the extract table does not have (a column the researcher computed, a band of
ages) is *derived*: the specification records it as such and cannot be replayed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError

from egress.errors import InputError
from spe.messages import Message

FORMAT = "spe-replay-spec"
VERSION = 1
MAX_FILTER_CHARS = 4000
MAX_NESTING = 16
MAX_TERMS = 200
MAX_MEMBERS = 1000
STATISTICS = ("count", "sum", "mean", "std", "median", "min", "max")
TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEYWORDS = frozenset({"and", "or", "in", "not", "between", "true", "false"})

GRAMMAR = r"""
?start: disjunction
?disjunction: conjunction (_OR conjunction)*
?conjunction: condition (_AND condition)*
?condition: comparison | range | membership | "(" disjunction ")"
comparison: name OPERATOR literal
range: name _BETWEEN literal _AND literal
membership: name NOT? _IN "(" literal ("," literal)* ")"
name: NAME | QUOTED_NAME
literal: NUMBER | STRING | TRUE | FALSE

OPERATOR: "==" | "!=" | "<=" | ">=" | "<" | ">"
_OR: /or\b/i
_AND: /and\b/i
_IN: /in\b/i
_BETWEEN: /between\b/i
NOT: /not\b/i
TRUE: /true\b/i
FALSE: /false\b/i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
QUOTED_NAME: /`[^`\x00-\x1f]{1,128}`/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
STRING: /"[^"\\\x00-\x1f]{0,256}"/ | /'[^'\\\x00-\x1f]{0,256}'/

%ignore /[ \t\r\n]+/
"""
"""The filter grammar (lark EBNF). ``and`` binds tighter than ``or``; keywords are
case-insensitive; a variable whose name is not a plain identifier is written in backquotes;
``between`` includes both ends; strings are in single or double quotes, without escapes."""

Literal = str | float | bool


class FilterError(InputError):
    """A filter that is not in the grammar, or names a variable it may not."""


@dataclass(frozen=True)
class Compare:
    variable: str
    operator: str
    value: Literal

    def __str__(self) -> str:
        return f"{_name(self.variable)} {self.operator} {_literal(self.value)}"


@dataclass(frozen=True)
class Between:
    variable: str
    low: Literal
    high: Literal

    def __str__(self) -> str:
        return (f"{_name(self.variable)} between {_literal(self.low)} and "
                f"{_literal(self.high)}")


@dataclass(frozen=True)
class Member:
    variable: str
    values: tuple[Literal, ...]
    negated: bool = False

    def __str__(self) -> str:
        inside = ", ".join(_literal(v) for v in self.values)
        return f"{_name(self.variable)} {'not in' if self.negated else 'in'} ({inside})"


@dataclass(frozen=True)
class And:
    parts: tuple[Filter, ...]

    def __str__(self) -> str:
        return " and ".join(f"({p})" if isinstance(p, Or) else str(p) for p in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Filter, ...]

    def __str__(self) -> str:
        return " or ".join(str(p) for p in self.parts)


Filter = Compare | Between | Member | And | Or


def variables(node: Filter) -> set[str]:
    """Every variable a filter names."""
    if isinstance(node, And | Or):
        return set().union(*(variables(p) for p in node.parts))
    return {node.variable}


def _name(variable: str) -> str:
    return variable if PLAIN_NAME.match(variable) and variable.lower() not in KEYWORDS \
        else f"`{variable}`"


def _literal(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return f"'{value}'" if '"' in value else f'"{value}"'


@v_args(inline=True)
class _Build(Transformer):
    """Parse tree → the dataclasses above (values only: no name is resolved here)."""

    def name(self, token: Token) -> str:
        text = str(token)
        return text[1:-1] if token.type == "QUOTED_NAME" else text

    def literal(self, token: Token) -> Literal:
        if token.type == "NUMBER":
            value = float(token)
            if not math.isfinite(value):
                raise FilterError(Message("number {token} is out of range", token=str(token)))
            return value
        if token.type == "STRING":
            return str(token)[1:-1]
        return token.type == "TRUE"

    def comparison(self, variable: str, operator: Token, value: Literal) -> Compare:
        return Compare(variable, str(operator), value)

    def range(self, variable: str, low: Literal, high: Literal) -> Between:
        return Between(variable, low, high)

    def membership(self, variable: str, *rest) -> Member:
        negated = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "NOT"
        values = rest[1:] if negated else rest
        if len(values) > MAX_MEMBERS:
            raise FilterError(Message("at most {most} values in a membership test",
                                      most=MAX_MEMBERS))
        return Member(variable, tuple(values), negated)

    def conjunction(self, *parts: Filter) -> And:
        return And(_flat(parts, And))

    def disjunction(self, *parts: Filter) -> Or:
        return Or(_flat(parts, Or))


def _flat(parts: tuple[Filter, ...], kind: type) -> tuple[Filter, ...]:
    out: list[Filter] = []
    for p in parts:
        out += p.parts if isinstance(p, kind) else [p]
    return tuple(out)


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


def parse_filter(text: str) -> Filter:
    """The filter ``text`` names; :class:`FilterError` with the reason when it is not one."""
    if not isinstance(text, str):
        raise FilterError(Message("a filter is text"))
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(Message("a filter has at most {most} characters",
                                  most=MAX_FILTER_CHARS))
    depth = deepest = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise FilterError(Message("a filter nests at most {most} parentheses deep",
                                  most=MAX_NESTING))
    try:
        tree = _parser().parse(text)
        node = _Build().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, FilterError):
            raise exc.orig_exc from None
        raise FilterError(Message("not a filter: {error}", error=str(exc.orig_exc))) from None
    except LarkError as exc:
        raise FilterError(Message("not a filter: {error}", error=_first_line(exc))) from None
    if _terms(node) > MAX_TERMS:
        raise FilterError(Message("a filter has at most {most} conditions", most=MAX_TERMS))
    return node


def _terms(node: Filter) -> int:
    return sum(_terms(p) for p in node.parts) if isinstance(node, And | Or) else 1


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


@dataclass
class ReplaySpec:
    """How a table was made: enough to make it again from the extract, or why not.

    ``table`` is the extract table read (``None`` when the data frame did not come from one),
    ``derived`` the variables used that are not the extract table's own columns, and
    ``unrecorded`` what was done to the rows outside the library (rows dropped or added).
    """

    table: str | None
    rows: list[str]
    columns: list[str]
    statistic: str = "count"
    values: str | None = None
    where: str | None = None
    margins: bool = False
    margins_name: str = "All"
    derived: list[str] = field(default_factory=list)
    unrecorded: str | None = None

    def variables(self) -> list[str]:
        """Every extract variable the table uses, in the order first used."""
        names = [*self.rows, *self.columns, *([self.values] if self.values else [])]
        if self.where:
            names += sorted(variables(parse_filter(self.where)))
        return list(dict.fromkeys(names))

    def filter(self) -> Filter | None:
        return parse_filter(self.where) if self.where else None

    @property
    def not_replayable(self) -> Message | None:
        """Why this specification cannot be replayed, from what it says of itself (what was
        ``unrecorded`` is the workspace's own English text, kept as a parameter)."""
        if self.table is None:
            return Message("which extract table the data came from is not recorded (read it "
                           "with tables.read_extract)")
        if self.derived:
            return Message("derived variable(s) {variables}: not columns of extract table "
                           "{table!r}", variables=", ".join(map(repr, self.derived)),
                           table=self.table)
        if self.unrecorded:
            return Message("{error}", error=self.unrecorded)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "table": self.table, "rows": self.rows,
                "columns": self.columns, "statistic": self.statistic, "values": self.values,
                "where": self.where, "margins": self.margins,
                "margins_name": self.margins_name, "derived": self.derived,
                "unrecorded": self.unrecorded}

    @classmethod
    def from_json(cls, data: Any) -> ReplaySpec:
        """Strictly: every field of its type, the filter in the grammar; :class:`InputError`
        (with the reason) for anything else."""
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or data.get("version") != VERSION:
            raise InputError(Message("not an {format} version {version} specification",
                                     format=FORMAT, version=VERSION))
        unknown = set(data) - set(cls(None, [], []).to_json())
        if unknown:
            raise InputError(Message("unknown field(s) in the specification: {fields}",
                                     fields=str(sorted(unknown))))
        table = data.get("table")
        if table is not None and not (isinstance(table, str) and TABLE_NAME.match(table)):
            raise InputError(Message("the specification's extract table is not a table name"))
        spec = cls(table=table, rows=_names(data, "rows"), columns=_names(data, "columns"),
                   statistic=_choice(data, "statistic", STATISTICS),
                   values=_optional_name(data, "values"), where=_optional_text(data, "where"),
                   margins=_bool(data, "margins"),
                   margins_name=_text(data, "margins_name", "All"),
                   derived=_names(data, "derived"),
                   unrecorded=_optional_text(data, "unrecorded"))
        if not spec.rows:
            raise InputError(Message("the specification has no row variable"))
        if (spec.statistic == "count") != (spec.values is None):
            raise InputError(Message("a count has no values variable; any other statistic "
                                     "has one"))
        if spec.where is not None:
            parse_filter(spec.where)
        return spec


def _names(data: dict, key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > 16 or not all(
            isinstance(v, str) and 0 < len(v) <= 128 for v in value):
        raise InputError(Message("the specification's {key} is not a list of variable names",
                                 key=key))
    return list(value)


def _optional_name(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 128):
        raise InputError(Message("the specification's {key} is not a variable name", key=key))
    return value


def _optional_text(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and len(value) <= MAX_FILTER_CHARS):
        raise InputError(Message("the specification's {key} is not text", key=key))
    return value


def _text(data: dict, key: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) > 128:
        raise InputError(Message("the specification's {key} is not text", key=key))
    return value


def _bool(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InputError(Message("the specification's {key} is not true or false", key=key))
    return value


def _choice(data: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in allowed:
        raise InputError(Message("the specification's {key} is not one of {allowed}", key=key,
                                 allowed=", ".join(allowed)))
    return value
