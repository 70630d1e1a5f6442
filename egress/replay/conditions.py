"""A filter as the differencing audit reads filters: one condition per variable.

The audit (:mod:`egress.differencing`) knows a table's filters as ``{variable: label}``, the
label a category (``"F"``) or a band (``"<90"``, ``">=18"``, ``"[18;65["``, ``"18-64"``) in
the forms its label reader understands. A filter that is a conjunction of such conditions
translates exactly; any other (``or``, ``!=``, ``not in``, a membership of several values, two
bounds that make no band) does not. Then none of it is given as conditions on variables (a
table whose filter is half-known would be placed wrongly) but the whole of it as one opaque
condition (:func:`opaque`): the table counts the part of the population the filter keeps,
and the audit knows nothing else of that part. Read as no filter, a table filtered on
``sex != "F"`` would be taken for everyone and, beside a table of women, reveal "men" as a
small difference.
"""

from __future__ import annotations

import hashlib

from egress.replay.spec import And, Between, Compare, Filter, Literal, Member, Or

OPAQUE_VALUE = "kept"


def conditions(node: Filter | None) -> dict[str, str] | None:
    """``{variable: label}`` for a filter that translates exactly, ``{}`` for no filter,
    ``None`` for one that does not."""
    if node is None:
        return {}
    if isinstance(node, Or):
        return None
    parts = node.parts if isinstance(node, And) else (node,)
    by_variable: dict[str, list[Filter]] = {}
    for part in parts:
        if isinstance(part, And | Or):
            return None
        by_variable.setdefault(part.variable, []).append(part)
    out = {}
    for variable, found in by_variable.items():
        label = _label(found)
        if label is None:
            return None
        out[variable] = label
    return out


def opaque(where: str) -> dict[str, str]:
    """A filter that does not translate, as one condition the audit cannot see into: a
    variable of its own (named by the filter's text, with a digest so that texts differing
    only in case stay apart) whose value ``kept`` is the part of the population it keeps."""
    digest = hashlib.sha256(where.encode()).hexdigest()[:8]
    return {f"where {where} #{digest}": OPAQUE_VALUE}


def _label(parts: list[Filter]) -> str | None:
    if len(parts) == 1:
        (p,) = parts
        if isinstance(p, Member) and not p.negated and len(p.values) == 1:
            return _text(p.values[0])
        if isinstance(p, Between) and _whole(p.low) and _whole(p.high):
            return f"{_text(p.low)}-{_text(p.high)}"
        if isinstance(p, Compare) and p.operator != "!=":
            if p.operator == "==":
                return _text(p.value)
            if isinstance(p.value, float):
                return f"{p.operator}{_text(p.value)}"
        return None
    if len(parts) == 2 and all(isinstance(p, Compare) and isinstance(p.value, float)
                               for p in parts):
        ops = {p.operator: p.value for p in parts}
        if set(ops) == {">=", "<"}:
            return f"[{_text(ops['>='])};{_text(ops['<'])}["
        if set(ops) == {">=", "<="} and _whole(ops[">="]) and _whole(ops["<="]):
            return f"{_text(ops['>='])}-{_text(ops['<='])}"
    return None


def _whole(value: Literal) -> bool:
    return isinstance(value, float) and value.is_integer()


def _text(value: Literal) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value
