"""Neutralise spreadsheet formulas in a CSV before a person opens it (CSV injection).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by spreadsheets (``=HYPERLINK(...)`` sends data away, ``=cmd|...`` runs commands).
Such a cell gets a leading apostrophe, which spreadsheets show as text. Numbers (``-3``,
``+1,5``) and suppression markers (``-``) are left alone. Shared by release downloads and
the console.
"""

from __future__ import annotations

import codecs
import csv
import io

from egress.csvformat import decode, sniff_delimiter
from egress.errors import InputError
from egress.interpret import is_formula


def neutralise_cell(cell: str) -> str:
    return "'" + cell if is_formula(cell) else cell


def neutralise_csv(data: bytes) -> tuple[bytes, int]:
    """The CSV with every formula cell neutralised, and how many there were.

    Unchanged bytes when there is none (or the bytes are not text): a file is only
    rewritten when it must be.
    """
    try:
        text, encoding, bom = decode(data)
    except InputError:
        return data, 0
    delimiter = sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return data, 0
    changed = 0
    for row in rows:
        for k, cell in enumerate(row):
            if is_formula(cell):
                row[k] = "'" + cell
                changed += 1
    if not changed:
        return data, 0
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter,
               lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
    marks = {"utf-8": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE,
             "utf-16-be": codecs.BOM_UTF16_BE}
    return (marks[encoding] if bom else b"") + out.getvalue().encode(encoding), changed
