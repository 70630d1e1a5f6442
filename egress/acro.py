"""Ingest an ACRO output folder (``acro.finalise(path, "json")``, ACRO 1.0.2).

The folder holds ``results.json`` (per output: uid, status, type, properties, files, an
``outcome`` table of ACRO's cell flags, summary, exception, command), the output files, a
``config.json`` of ACRO's risk appetite and ``checksums/<file>.txt`` with ACRO's SHA-256 of
each file. spe trusts none of it: every file is re-hashed (a mismatch with ACRO's checksum
fails: ACRO's verdict is then about other bytes), every table is interpreted from its own
cells (ACRO's labels and cell flags can only add checks), and a file labelled a regression
must be a model's output whose printed residual degrees of freedom are the ones claimed.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress.errors import AcroFormatError
from egress.interpret import Interpretation
from egress.sdc.assess import Assessment
from spe.messages import Message

RESULTS = "results.json"
SINGLE_UNIT_ANALYSES = ("Maximum", "Minimum", "Median", "Quartiles", "Range",
                        "InterquartileRange")
METADATA = ("results.json", "config.json")


@dataclass(frozen=True)
class AcroOutput:
    """One file of an ACRO output, with what ACRO said about its output."""

    file: str
    uid: str
    status: str
    type: str
    summary: str
    exception: str
    command: str
    properties: dict[str, Any]
    outcome: dict[str, dict[str, str]]
    files: tuple[str, ...] = ()

    @property
    def frequency_table(self) -> bool:
        return self.type == "table" and self.summary.lstrip().startswith("FrequencyTable")

    @property
    def single_unit(self) -> bool:
        """A table of min, max, median...: ACRO checks only its counts and lets it pass."""
        return self.type == "table" and self.summary.lstrip().startswith(SINGLE_UNIT_ANALYSES)

    @property
    def not_for_release(self) -> bool:
        return "DONT_RELEASE" in self.uid

    def surfaced(self) -> dict[str, Any]:
        """What checkers see of ACRO's own verdict."""
        cells = [{"row": row, "column": col, "checks": [c.strip() for c in flag.split(";")
                                                         if c.strip()]}
                 for col, by_row in self.outcome.items() for row, flag in by_row.items()
                 if flag not in ("ok", "")]
        return {"uid": self.uid, "status": self.status, "type": self.type,
                "summary": self.summary, "exception": self.exception,
                "command": self.command, "cells": cells}


def is_acro_folder(path: Path) -> bool:
    return path.is_dir() and (path / RESULTS).is_file()


def read_results(folder: Path) -> dict[str, AcroOutput]:
    """ACRO's outputs of ``folder`` by file name; :class:`AcroFormatError` if malformed."""
    try:
        data = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
        outputs: dict[str, AcroOutput] = {}
        for uid, out in data["results"].items():
            for f in out["files"]:
                outputs[f["name"]] = AcroOutput(
                    file=f["name"], uid=str(uid), status=str(out["status"]),
                    type=str(out["type"]), summary=str(out.get("summary", "")),
                    exception=str(out.get("exception", "")),
                    command=str(out.get("command", "")),
                    properties=dict(out.get("properties") or {}),
                    outcome=dict(out.get("outcome") or {}),
                    files=tuple(str(g["name"]) for g in out["files"]))
        return outputs
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AcroFormatError(f"{folder / RESULTS} is not ACRO's results.json: {exc}") from exc


def acro_checksum(folder: Path, name: str) -> str | None:
    path = folder / "checksums" / f"{name}.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def folder_files(folder: Path) -> list[Path]:
    """The files of an ACRO folder, ACRO's checksums left out."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and "checksums" not in p.relative_to(folder).parts)


def label_columns(output: AcroOutput) -> int:
    """How many leading columns of a table are row labels, from ACRO's outcome keys."""
    for by_row in output.outcome.values():
        for key in by_row:
            if key.startswith("("):
                try:
                    return len(ast.literal_eval(key))
                except (ValueError, SyntaxError, TypeError):
                    return 1
            return 1
    return 1


def cells_flagged(output: AcroOutput, interp: Interpretation) -> Assessment:
    """ACRO's own cell flags, added as checks: a cell ACRO found disclosive that the file
    shows fails; ACRO labels that are not in the file mean its verdict is not this file's."""
    out = Assessment()
    if not output.outcome:
        return out
    names = interp.text.header
    rows = {(lab[0] if len(lab) == 1 else str(lab)): i
            for i, lab in enumerate(_labels(interp))}
    out.applied("acro-status", status=output.status, cells=True)
    for col, by_row in output.outcome.items():
        if col not in names:
            out.flag((), (), "evidence", Message("evidence does not match the table: ACRO's "
                                                 "outcome has a column {col!r} the file does "
                                                 "not", col=col), "fail")
            return out
        for row, flag in by_row.items():
            i = rows.get(row)
            if i is None:
                out.flag((), (), "evidence", Message("evidence does not match the table: "
                                                     "ACRO's outcome has a row {row!r} the "
                                                     "file does not", row=row), "fail")
                return out
            if flag not in ("ok", "") and not interp.suppressed[i, names.index(col)]:
                out.flag(interp.row_label(i), (col,), "acro-status",
                         Message("ACRO flagged this cell ({acro_flag}) and the file shows it",
                                 acro_flag=flag.strip('; ')),
                         "fail")
    return out


def _labels(interp: Interpretation) -> list[tuple[str, ...]]:
    dims = interp.role("dimension")
    return [tuple(r[d].strip() for d in dims) for r in interp.text.rows]


def regression_dof(folder: Path, output: AcroOutput) -> float | None:
    """Residual degrees of freedom as the output's own files print them (statsmodels'
    ``Df Residuals:`` cell), not as results.json claims."""
    for f in output.files:
        try:
            text = (folder / f).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for row in csv.reader(text.splitlines()):
            for k, cell in enumerate(row[:-1]):
                if cell.strip() in ("Df Residuals:", "Df Residuals"):
                    try:
                        return float(row[k + 1])
                    except ValueError:
                        return None
    return None


def regression_part(data: bytes) -> str | None:
    """Which part of a statsmodels summary a regression file is, or ``None``."""
    text = data.decode("utf-8", errors="replace")
    head = text[:4000]
    if "Df Residuals:" in head or "Dep. Variable:" in head:
        return "model summary"
    first = next(csv.reader(text.splitlines()[:1]), [])
    if {"coef", "std err"} <= {c.strip() for c in first} or "Coef." in first:
        return "coefficients"
    if "Omnibus:" in head or "Durbin-Watson:" in head:
        return "diagnostics"
    return None


def assess_acro_file(folder: Path, name: str, sha256: str, output: AcroOutput | None,
                     recheck: Callable[[bool], tuple[Assessment, str]],
                     dof_check: Callable[[float], Assessment], single_unit_stats: str,
                     data: bytes = b"") -> tuple[Assessment, str]:
    """Checks for one file of an ACRO folder, and the least outcome it can have.

    ``recheck(claimed_counts)`` checks a table from its own cells (ACRO's claim that it is
    a frequency table adds count checks, never a pass); ``dof_check`` a model's dof.
    """
    out = Assessment()
    expected = acro_checksum(folder, name)
    out.applied("acro-checksum", algorithm="sha256")
    if expected is None:
        out.notes.append(Message("ACRO wrote no checksum for this file"))
    elif expected != sha256:
        out.flag((), (), "evidence", Message("evidence does not match the table: the file's "
                                             "SHA-256 differs from ACRO's checksum (changed "
                                             "after ACRO wrote it)"), "fail")
    if name in METADATA:
        out.notes.append(Message("ACRO metadata: shows commands and ACRO's verdicts, no "
                                 "results"))
        return out, "review"
    if output is None:
        out.notes.append(Message("file not listed in ACRO's results.json"))
        return out, "review"
    out.applied("acro-status", status=output.status)
    if output.not_for_release:
        out.flag((), (), "acro-status", Message("ACRO marks this output DONT_RELEASE"), "fail")
        return out, "fail"
    if output.exception:
        out.notes.append(Message("researcher's exception request: {exception}",
                                 exception=output.exception))
    if output.type == "regression":
        return _regression(folder, output, out, dof_check, data)
    if not name.lower().endswith(".csv"):
        out.notes.append(Message("ACRO {type} output that is not a table: a person must "
                                 "check it; ACRO says {output_status}", type=output.type,
                                 output_status=output.status))
        return out, "review"
    checked, at_least = recheck(output.frequency_table)
    out.extend(checked)
    if output.single_unit:
        out.applied("single-unit", outcome=single_unit_stats)
        out.flag((), (), "single-unit", Message("a table of minima, maxima or quantiles "
                                                "shows single people's values"), single_unit_stats)
    if output.status != "pass":
        out.notes.append(Message("ACRO says {output_status}", output_status=output.status))
    least = "review" if output.exception or output.status != "pass" else at_least
    return out, least


def _regression(folder: Path, output: AcroOutput, out: Assessment,
                dof_check: Callable[[float], Assessment], data: bytes
                ) -> tuple[Assessment, str]:
    """A file ACRO labels a regression passes only if its bytes are a model's output and the
    residual dof they print is the dof ACRO claims, and enough."""
    part = regression_part(data)
    if part is None:
        out.flag((), (), "evidence", Message("evidence does not match the table: labelled a "
                                             "regression, but the file is no part of a "
                                             "model's output"), "fail")
        return out, "fail"
    dof = regression_dof(folder, output)
    claimed = output.properties.get("dof")
    if dof is None:
        out.notes.append(Message("no residual degrees of freedom printed in the model's files"))
        return out, "review"
    if claimed is not None:
        try:
            agrees = float(claimed) == dof
        except (TypeError, ValueError):
            agrees = False
        if not agrees:
            out.flag((), (), "evidence", Message("evidence does not match the table: ACRO's "
                                                 "results.json claims dof={claimed}, the "
                                                 "model's output prints {dof:g}", claimed=claimed,
                                                 dof=dof),
                     "fail")
            return out, "fail"
    out.extend(dof_check(dof))
    out.notes.append(Message("{part} of a model with {dof:g} residual degrees of freedom "
                             "(read from the file)", part=part, dof=dof))
    return out, "pass" if output.status == "pass" else "review"
