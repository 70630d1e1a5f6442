"""How a file under review is shown to a checker: inert, whatever its bytes.

A CSV becomes a table whose cells flagged by the check record carry the rule, reason and
severity (matched by the record's row and column labels): its first rows, then only the rows
holding a flagged cell, each with its row number; flags that cannot be placed in
the table are listed beside it rather than dropped. An image is recognised by its bytes
(never by its name) and shown from a separate, sandboxed response. Text is shown escaped
(the templates autoescape); anything else as a hex and printable-character dump. Nothing
of the file is ever interpreted as markup or script.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from markupsafe import Markup, escape

from spe.console.i18n import rule, say

LEADING_ROWS = 200  # shown in full; beyond them only the rows holding a flagged cell
MAX_TEXT_BYTES = 256 * 1024
HEX_BYTES = 1024
IMAGE_MAGIC = [(b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif")]


def image_type(head: bytes) -> str | None:
    """The content type of a PNG, JPEG, GIF or WebP image, from its first bytes."""
    for magic, kind in IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass
class Cell:
    value: str
    flags: list[dict[str, Any]] = field(default_factory=list)

    @property
    def severity(self) -> str | None:
        if not self.flags:
            return None
        return "fail" if any(f.get("severity") == "fail" for f in self.flags) else "review"


@dataclass
class Preview:
    kind: str  # "table", "image", "text", "hex"
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)  # 1-based, under the header
    text: str = ""
    truncated: bool = False
    whole_file_flags: list[dict[str, Any]] = field(default_factory=list)
    unplaced_flags: list[dict[str, Any]] = field(default_factory=list)
    content_type: str | None = None

    def body_html(self) -> Markup:
        """The table's rows as HTML, every value escaped: built here rather than by a
        template loop, which costs ten times as much on a request of many tables."""
        gap = f'<tr class="gap"><td colspan="{len(self.header) + 1}">…</td></tr>'
        out, previous = [], None
        for number, row in zip(self.row_numbers, self.rows, strict=True):
            if previous is not None and number != previous + 1:
                out.append(gap)
            previous = number
            out.append(f'<tr><th scope="row" class="rownum">{number}</th>')
            for cell in row:
                if not cell.flags:
                    out.append(f"<td>{escape(cell.value)}</td>")
                    continue
                why = "".join(f'<span class="why">{escape(rule(f.get("rule")))}: '
                              f'{escape(say(f.get("reason_message"), f.get("reason", "")))}'
                              "</span>" for f in cell.flags)
                out.append(f'<td class="flagged sev-{cell.severity}" tabindex="-1" data-flag>'
                           f'<span class="value">{escape(cell.value)}</span>{why}</td>')
            out.append("</tr>\n")
        return Markup("".join(out))  # noqa: S704  (every value above went through escape)


def preview(name: str, data: bytes, check: dict[str, Any] | None) -> Preview:
    flags = list((check or {}).get("flags") or [])
    whole = [f for f in flags if not f.get("row") and not f.get("column")]
    cell_flags = [f for f in flags if f not in whole]
    kind = image_type(data[:16])
    if kind:
        return Preview("image", content_type=kind, whole_file_flags=whole,
                       unplaced_flags=cell_flags)
    text = _text(data)
    if text is not None and name.lower().endswith((".csv", ".tsv")):
        table = _table(text, "\t" if name.lower().endswith(".tsv") else ",", cell_flags, check)
        if table is not None:
            table.whole_file_flags = whole
            return table
    if text is not None:
        shown = text[:MAX_TEXT_BYTES]
        return Preview("text", text=shown, truncated=len(text) > len(shown),
                       whole_file_flags=whole, unplaced_flags=cell_flags)
    return Preview("hex", text=hexdump(data[:HEX_BYTES]), truncated=len(data) > HEX_BYTES,
                   whole_file_flags=whole, unplaced_flags=cell_flags)


def _text(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _same(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _table(text: str, delimiter: str, flags: list[dict[str, Any]],
           check: dict[str, Any] | None) -> Preview | None:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return None
        if flags:  # a flagged cell is found by its labels: every row is read
            body, more = list(reader), False
        else:  # nothing to place: the leading rows are all that is shown
            body = list(islice(reader, LEADING_ROWS))
            more = next(reader, None) is not None
    except csv.Error:
        return None
    label_names = list(((check or {}).get("table") or {}).get("rows") or [])
    label_columns = [header.index(n) for n in label_names if n in header]
    if len(label_columns) != len(label_names):
        label_columns = []  # a wide table: the row labels are the leading cells
    cells: dict[int, list[Cell]] = {}

    def row(i: int) -> list[Cell]:
        return cells.setdefault(i, [Cell(v) for v in body[i]])

    unplaced = [f for f in flags if not _place(f, header, body, row, label_columns)]
    for i in range(min(LEADING_ROWS, len(body))):
        row(i)
    numbered = sorted(cells.items())
    return Preview("table", header=header, rows=[r for _, r in numbered],
                   row_numbers=[i + 1 for i, _ in numbered],
                   truncated=more or len(numbered) < len(body), unplaced_flags=unplaced)


def _place(flag: dict[str, Any], header: list[str], body: list[list[str]],
           row, label_columns: list[int]) -> bool:
    labels = [str(v) for v in flag.get("row") or []]
    columns = [str(v) for v in flag.get("column") or []]
    placed = False
    for i, record in enumerate(body):
        where = label_columns or list(range(len(labels)))
        if len(where) != len(labels) or any(
                c >= len(record) or not _same(record[c], v) for c, v in zip(where, labels,
                                                                           strict=True)):
            continue
        targets = [j for j, name in enumerate(header) if columns and _same(name, columns[-1])]
        if not columns:
            targets = [j for j in range(len(record)) if j not in where]
        for j in targets:
            if j < len(record):
                row(i)[j].flags.append(flag)
                placed = True
    return placed


def hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset:offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    return "\n".join(lines)
