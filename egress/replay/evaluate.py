"""A filter's rows, computed with Arrow's compute kernels over named columns.

The same function chooses the rows in the workspace (the library, over the researcher's
data frame) and in the airlock (the replay, over the extract), so both read a filter alike:

- a missing value (null, or NaN in a column of floats) satisfies no condition, ``!=`` and
  ``not in`` included;
- a number compares with a numeric column, text with a text column, ``true``/``false`` with a
  boolean one; text compares with a date or time column as ISO 8601 (``"2021-03-01"``);
  anything else is an error naming the variable, never a guess.

Columns are looked up by name in the mapping given, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from egress.replay.spec import And, Between, Compare, Filter, FilterError, Literal, Member, Or
from spe.messages import Message

Column = pa.Array | pa.ChunkedArray
_OPERATORS: dict[str, Callable] = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less,
                                   "<=": pc.less_equal, ">": pc.greater,
                                   ">=": pc.greater_equal}


def rows_kept(node: Filter, columns: Mapping[str, Column], length: int) -> np.ndarray:
    """A boolean per row: whether it satisfies ``node``; :class:`FilterError` when the filter
    names a variable ``columns`` does not have or compares it with a value of another kind."""
    missing = sorted(v for v in _names(node) if v not in columns)
    if missing:
        raise FilterError(Message("the filter names {names}, not a variable of the table",
                                  names=", ".join(map(repr, missing))))
    out = _mask(node, columns, {})
    if len(out) != length:
        raise FilterError(Message("the filter's columns do not have the table's length"))
    return out


def dictionary_indices(column: Column) -> tuple[np.ndarray, pa.Array]:
    """A column as an index per row (-1: null) into a dictionary of its values; a column
    Parquet gave as a dictionary keeps its own (it may hold values no row uses)."""
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if pa.types.is_null(column.type):
        return np.full(len(column), -1, dtype=np.int64), pa.array([], pa.null())
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    column = column.unify_dictionaries()
    dictionary = column.chunks[0].dictionary if column.num_chunks else pa.array(
        [], column.type.value_type)
    indices = pa.chunked_array([c.indices for c in column.chunks], column.type.index_type)
    return indices.fill_null(-1).to_numpy().astype(np.int64, copy=False), dictionary


def _names(node: Filter) -> set[str]:
    if isinstance(node, And | Or):
        return set().union(*(_names(p) for p in node.parts))
    return {node.variable}


def _mask(node: Filter, columns: Mapping[str, Column], decoded: dict) -> np.ndarray:
    if isinstance(node, And | Or):
        combine = np.logical_and if isinstance(node, And) else np.logical_or
        result = _mask(node.parts[0], columns, decoded)
        for part in node.parts[1:]:
            result = combine(result, _mask(part, columns, decoded))
        return result
    column = columns[node.variable]
    if pa.types.is_dictionary(column.type):  # test each distinct value once, then per row
        if node.variable not in decoded:
            decoded[node.variable] = dictionary_indices(column)
        indices, dictionary = decoded[node.variable]
        per_value = np.append(_test(node, dictionary), False)  # the last: a null row
        return per_value[indices]
    return _test(node, column)


def _test(node: Compare | Between | Member, column: Column) -> np.ndarray:
    present = _present(column)
    if isinstance(node, Compare):
        value = _scalar(node.variable, column, node.value)
        test = _OPERATORS[node.operator](column, value)
    elif isinstance(node, Between):
        low = _scalar(node.variable, column, node.low)
        high = _scalar(node.variable, column, node.high)
        test = pc.and_(pc.greater_equal(column, low), pc.less_equal(column, high))
    else:
        scalars = [_scalar(node.variable, column, v) for v in node.values]
        if _numeric(column.type):  # compared as numbers: 18 and 18.0 are one value
            column = pc.cast(column, pa.float64())
        test = pc.is_in(column, value_set=pa.array([s.as_py() for s in scalars],
                                                   type=column.type))
        if node.negated:
            test = pc.invert(test)
    kept = pc.and_(pc.fill_null(test, False), present)
    return np.asarray(kept.to_numpy(zero_copy_only=False), dtype=bool)


def _present(column: Column) -> Column:
    present = pc.is_valid(column)
    if pa.types.is_floating(column.type):
        present = pc.and_(present, pc.invert(pc.fill_null(pc.is_nan(column), True)))
    return present


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _scalar(variable: str, column: Column, value: Literal) -> pa.Scalar:
    """``value`` as a scalar of the column's type, when the kinds agree."""
    kind = column.type
    try:
        if isinstance(value, bool):
            if pa.types.is_boolean(kind):
                return pa.scalar(value)
        elif isinstance(value, float):
            if _numeric(kind):
                return pa.scalar(value, pa.float64())
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pa.scalar(value, kind)
        elif pa.types.is_temporal(kind):
            return pa.scalar(value).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FilterError(Message("{variable!r}: {value!r} is not a value of its type ({kind})",
                                  variable=variable, value=value, kind=str(kind))) from exc
    shown = Message("true/false") if isinstance(value, bool) else \
        Message("a number") if isinstance(value, float) else Message("text")
    raise FilterError(Message("{variable!r} holds {kind} values, compared with {shown} "
                              "({value!r})", variable=variable, kind=str(kind), shown=shown,
                              value=value))
