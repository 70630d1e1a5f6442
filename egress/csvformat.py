"""Read a CSV as people export it: encoding, delimiter, number format and header detected.

Nothing is assumed silently: what was detected goes into the check record, and what could
not be decided (mixed number formats, undecodable bytes) is said so the file goes to a person.
Cells stay text here; :func:`parse_number` turns one into a number under the detected format.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from typing import Any

from egress.errors import InputError

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_ROWS = 2000
HEADER_SAMPLE = 200
SPACES = " \u00a0\u202f"
# numbers of one locale; the ambiguous ones ("1.234", "1,234") match both
EN = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[+-]?\.\d+$")
FR = re.compile(r"^[+-]?(\d{1,3}([ \u00a0\u202f.']\d{3})+|\d+)(,\d+)?$")
PLAIN = re.compile(r"^[+-]?\d+$")
PERCENT_SIGN = re.compile(r"\s*%$")


@dataclass
class CsvFormat:
    """What was detected, as the check record shows it."""

    encoding: str
    bom: bool
    delimiter: str
    decimal: str
    thousands: list[str]
    header: bool
    rows: int = 0
    columns: int = 0
    assumptions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "bom": self.bom, "delimiter": self.delimiter,
                "decimal": self.decimal, "thousands": self.thousands, "header": self.header,
                "rows": self.rows, "columns": self.columns, "assumptions": self.assumptions}


@dataclass
class CsvText:
    """A CSV's header (``None`` when the file has none) and rows of text cells."""

    format: CsvFormat
    header: list[str]
    rows: list[list[str]]


def decode(data: bytes) -> tuple[str, str, bool]:
    """Text, encoding and BOM; UTF-8 first, then Windows-1252; :class:`InputError` else."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), enc, True
            except UnicodeDecodeError as exc:
                raise InputError(f"starts with a {enc} byte-order mark but is not {enc}: "
                                 f"{exc}") from exc
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252", False
    except UnicodeDecodeError as exc:
        raise InputError(f"neither UTF-8 nor Windows-1252 text: {exc}") from exc


def _split(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(text.splitlines(), delimiter=delimiter, quotechar='"', strict=True)
    return [row for row in reader if row and (len(row) > 1 or row[0].strip())]


def sniff_delimiter(text: str) -> str:
    """The delimiter giving the most columns, the same number on (nearly) every line."""
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    best, best_score = ",", (0, 0)
    for d in DELIMITERS:
        try:
            rows = _split("\n".join(lines), d)
        except csv.Error:
            continue
        widths = [len(r) for r in rows]
        if not widths:
            continue
        width = max(set(widths), key=widths.count)
        share = widths.count(width) / len(widths)
        score = (int(width > 1 and share >= 0.9), width if share >= 0.9 else 0)
        if score > best_score:
            best, best_score = d, score
    return best


def _number_format(rows: list[list[str]], delimiter: str) -> tuple[str, list[str], list[str]]:
    """Decimal separator, thousands separators, and the assumptions made to choose them."""
    en = fr = both = 0
    for cell in {cell for row in rows[:SAMPLE_ROWS] for cell in row}:  # distinct cells
        c = PERCENT_SIGN.sub("", cell.strip())
        if not c or PLAIN.match(c):
            continue
        in_en, in_fr = bool(EN.match(c)), bool(FR.match(c))
        en += in_en and not in_fr
        fr += in_fr and not in_en
        both += in_en and in_fr
    if en and fr:
        raise InputError(f"numbers written in two formats ({en} like 1,234.5 and {fr} like "
                         "1 234,5): cannot tell which separator is the decimal one")
    if fr or (not en and delimiter != ","):
        assumptions = ["decimal comma assumed from the delimiter for numbers like 1.234"] \
            if both and not fr else []
        return ",", [" ", "\u00a0", "\u202f", ".", "'"], assumptions
    # "1,234" in a comma-separated file was quoted on purpose: a thousands separator
    return ".", [","], []


def _is_number(cell: str, decimal: str) -> bool:
    return parse_number(cell, decimal) is not None


def parse_number(cell: str, decimal: str) -> float | None:
    """``cell`` as a number under the file's format (``"1 234,5"`` → 1234.5), else ``None``.

    A trailing ``%`` is allowed (the column is then a percentage).
    """
    c = PERCENT_SIGN.sub("", cell.strip())
    if not c:
        return None
    if not (FR if decimal == "," else EN).match(c):
        return None
    if decimal == ",":
        c = re.sub(r"[ \u00a0\u202f.']", "", c).replace(",", ".")
    else:
        c = c.replace(",", "")
    try:
        return float(c)
    except ValueError:
        return None


def _has_header(rows: list[list[str]], decimal: str) -> bool:
    """A first row of text over columns whose other cells are numbers is a header; a first
    row that is as numeric as the rest is data."""
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1:HEADER_SAMPLE]
    numeric_cols = [j for j in range(len(first))
                    if sum(_is_number(r[j], decimal) for r in rest if j < len(r))
                    >= 0.5 * len(rest)]
    if not numeric_cols:
        # all text: a header unless the first row repeats values found below it
        return not any(first[j] in {r[j] for r in rest if j < len(r)} for j in
                       range(len(first)))
    return not all(_is_number(first[j], decimal) for j in numeric_cols)


def read_text(data: bytes, name: str) -> CsvText:
    """The cells of a CSV file and how it is written; :class:`InputError` if unreadable."""
    text, encoding, bom = decode(data)
    if "\x00" in text:
        raise InputError(f"{name} holds NUL characters: not a text CSV")
    delimiter = sniff_delimiter(text)
    try:
        rows = _split(text, delimiter)
    except csv.Error as exc:
        raise InputError(f"{name} is not a readable CSV: {exc}") from exc
    if not rows:
        raise InputError(f"{name} is empty")
    decimal, thousands, assumptions = _number_format(rows, delimiter)
    header = _has_header(rows, decimal)
    width = max(len(r) for r in rows)
    ragged = sum(len(r) != width for r in rows)
    if ragged:
        raise InputError(f"{name}: {ragged} line(s) do not have the {width} fields of the "
                         "others")
    if header:
        names = [c.strip() or f"column {j + 1}" for j, c in enumerate(rows[0])]
        body = rows[1:]
        if len(set(names)) != len(names):
            raise InputError(f"{name}: duplicate column names in the header")
    else:
        names, body = [f"column {j + 1}" for j in range(width)], rows
    fmt = CsvFormat(encoding=encoding, bom=bom, delimiter=delimiter, decimal=decimal,
                    thousands=thousands, header=header, rows=len(body), columns=width,
                    assumptions=assumptions)
    return CsvText(fmt, names, body)
