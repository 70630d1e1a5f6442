"""The evidence sidecar ``<table>.sdc.json`` written next to an analysis table.

It lets ``spe egress check`` re-apply the dominance and p% rules offline. It holds per cell
the count of contributors, the absolute total, the two largest absolute contributions and
the number of negative ones: nothing else of the rows, but those largest contributions are
individual values, so the sidecar is **checker-only**: it stays in the workspace and the
quarantine and is never released (a sidecar submitted for release fails its check).

It also holds, under ``replay``, how the table was made (:class:`~egress.replay.spec.
ReplaySpec`), which the airlock replays on the extract. ``read_sidecar`` leaves that part as
written: a malformed specification makes the table not replayable, not the sidecar unreadable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from egress.csvformat import CsvText, parse_number
from egress.errors import InputError
from egress.replay.spec import ReplaySpec
from egress.sdc.evidence import TableEvidence

FORMAT = "spe-sdc-sidecar"
SUFFIX = ".sdc.json"
NOTICE = ("Checker-only SDC evidence (per-cell counts and largest contributions). "
          "Stays in the workspace and quarantine; never released.")


def sidecar_path(table_path: Path) -> Path:
    return table_path.with_name(table_path.stem + SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def write_sidecar(table_path: Path, table_sha256: str, evidence: TableEvidence,
                  spec: ReplaySpec | None = None) -> Path:
    out = sidecar_path(table_path)
    doc = {"format": FORMAT, "version": 1, "checker_only": True, "notice": NOTICE,
           "table_file": table_path.name, "table_sha256": table_sha256,
           "evidence": evidence.to_json()}
    if spec is not None:
        doc["replay"] = spec.to_json()
    out.write_text(json.dumps(doc, allow_nan=False), encoding="utf-8")
    return out


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar's document, with ``evidence`` parsed; :class:`InputError` if malformed."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read sidecar {path.name}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path.name} is not an spe SDC sidecar")
    doc["evidence"] = TableEvidence.from_json(doc.get("evidence") or {})
    return doc


def verify_evidence(ev: TableEvidence, text: CsvText) -> str | None:
    """How the evidence contradicts the table's cells, or ``None`` when every label and
    every value agrees with it (counts equal, magnitudes within what the evidence allows)."""
    nr = len(ev.row_dims)
    if ev.count.shape != (len(ev.row_labels), len(ev.col_labels)):
        return "the evidence's counts do not have the shape of its labels"
    if ev.magnitude and (ev.total.shape != ev.count.shape or ev.top.ndim != 3
                         or ev.top.shape[:2] != ev.count.shape):
        return "the evidence's contributions do not have the shape of its counts"
    if len(ev.col_dims) > 1:
        return "tables with several column dimensions cannot be compared cell by cell yet"
    header = text.header
    if [h.strip() for h in header[:nr]] != [str(d) for d in ev.row_dims]:
        return f"row dimensions {header[:nr]} in the file, {ev.row_dims} in the evidence"
    # a table without column dimensions has one column, named after its values
    if header[nr:] != [str(c[0]) if c else str(ev.col_dims[0]) for c in ev.col_labels]:
        return "column labels differ from the evidence's"
    if len(text.rows) != len(ev.row_labels):
        return f"{len(text.rows)} rows in the file, {len(ev.row_labels)} in the evidence"
    for i, (row, labels) in enumerate(zip(text.rows, ev.row_labels, strict=True)):
        if [c.strip() for c in row[:nr]] != [str(v) for v in labels]:
            return f"row {i + 1} is labelled {row[:nr]} in the file, {list(labels)} in the " \
                   "evidence"
        for j, cell in enumerate(row[nr:]):
            why = _cell_contradiction(ev, i, j, parse_number(cell, text.format.decimal))
            if why:
                return f"row {i + 1}, column {header[nr + j]!r}: {why}"
    return None


def _cell_contradiction(ev: TableEvidence, i: int, j: int, value: float | None) -> str | None:
    n = int(ev.count[i, j])
    if ev.statistic == "count":
        return None if value == n else f"shows {value}, the evidence counts {n}"
    if n == 0:
        return None if value is None else f"shows {value} for a cell the evidence says is empty"
    if value is None:
        return f"shows nothing for a cell of {n} contributors"
    if ev.total is None or ev.top is None:
        return "magnitude evidence without totals"
    total, largest = float(ev.total[i, j]), float(ev.top[i, j, 0])
    slack = 1e-9 * max(total, 1.0) + 1e-6
    bound = {"sum": total, "mean": total / n, "std": None}.get(ev.statistic, largest)
    if bound is not None and abs(value) > bound + slack:
        return f"shows {value:g}, more than the evidence's contributions allow ({bound:g})"
    return None
