"""Text made of decimal digits, held as 64-bit integers while it moves.

An identifier such as a NIR or an RPPS number is a string of digits of one width. As an
integer it is a quarter of the work to move (Arrow gathers 8-byte integers several times
faster than strings) and to look up (a hash table of integers, not of strings). Among
strings of one width the integer is one-to-one: ``"0123"`` and ``"123"`` differ in width, so
a width goes with the integers, and the text is given back exactly, leading zeros included.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_DIGITS = 19
"""Up to 19 decimal digits fit in 64 bits (10^19 < 2^64)."""
WIDTH = b"spe.decimal_width"
"""Field metadata of a uint64 column that stands for text of that many digits."""
_FOUR_DIGITS = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)


def width(values: pa.Array) -> int | None:
    """The width of ``values`` (text) if every value (nulls aside) is 1 to 19 ASCII digits,
    all of that width; else None."""
    lengths = pc.min_max(pc.binary_length(values))
    found = lengths["max"].as_py()
    if found is None or lengths["min"].as_py() != found or not 0 < found <= MAX_DIGITS \
            or not pc.all(pc.ascii_is_decimal(values)).as_py():
        return None
    return found


def fits(values: pa.Array, digits: int) -> pa.BooleanArray:
    """Which values are ``digits`` ASCII digits (null for a null)."""
    return pc.and_(pc.ascii_is_decimal(values), pc.equal(pc.binary_length(values), digits))


def integers(values: pa.Array) -> pa.UInt64Array:
    """The integers of text that :func:`fits` (nulls stay null)."""
    return values.cast(pa.uint64())


def text(numbers: pa.UInt64Array, digits: int, kind: pa.DataType = pa.string()) -> pa.Array:
    """The ``digits``-wide text of ``numbers`` (leading zeros given back; nulls stay null)."""
    count = len(numbers)
    values = numbers.fill_null(0).to_numpy() if numbers.null_count else numbers.to_numpy()
    chars = np.empty((count, digits), dtype=np.uint8)
    rest = values
    for end in range(digits, 0, -4):  # four digits of every value at a time, from the right
        start = max(0, end - 4)
        chars[:, start:end] = _FOUR_DIGITS[rest % np.uint64(10_000)][:, 4 - (end - start):]
        rest = rest // np.uint64(10_000)
    offsets = np.arange(0, digits * (count + 1), digits,
                        dtype=np.int64 if pa.types.is_large_string(kind) else np.int32)
    validity = numbers.buffers()[0] if numbers.null_count else None
    if validity is not None and numbers.offset:
        validity = pc.is_valid(numbers).buffers()[1]
    return pa.Array.from_buffers(kind, count, [validity, pa.py_buffer(offsets),
                                               pa.py_buffer(chars)],
                                 null_count=numbers.null_count)
