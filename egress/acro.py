"""Ingest an ACRO output folder (``acro.finalise(path, "json")``, ACRO 1.0.2).

The folder holds ``results.json`` (per output: uid, status, type, properties, files, an
``outcome`` table of ACRO's cell flags, summary, exception, command), the output files, a
``config.json`` of ACRO's risk appetite and ``checksums/<file>.txt`` with ACRO's SHA-256 of
each file. spe trusts none of it: every file is re-hashed (a mismatch with ACRO's checksum
is reported), ACRO's statuses and cell flags are shown to checkers, frequency tables are
re-checked with the permit's pack, and regressions' residual degrees of freedom too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress.errors import AcroFormatError
from egress.sdc.assess import Assessment

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
                    outcome=dict(out.get("outcome") or {}))
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


def assess_acro_file(folder: Path, name: str, sha256: str, output: AcroOutput | None,
                     recheck: Callable[[], Assessment], dof_check: Callable[[float], Assessment],
                     single_unit_stats: str) -> tuple[Assessment, str]:
    """Checks for one file of an ACRO folder, and the least outcome it can have.

    ``recheck`` re-checks a frequency table with the pack; ``dof_check`` a model's dof.
    """
    out = Assessment()
    expected = acro_checksum(folder, name)
    out.applied("acro-checksum", algorithm="sha256")
    if expected is None:
        out.notes.append("ACRO wrote no checksum for this file")
    elif expected != sha256:
        out.flag((), (), "acro-checksum", "file changed after ACRO wrote it: its SHA-256 "
                 "differs from ACRO's checksum", "review")
    if name in METADATA:
        out.notes.append("ACRO metadata: shows commands and ACRO's verdicts, no results")
        return out, "review"
    if output is None:
        out.notes.append("file not listed in ACRO's results.json")
        return out, "review"
    out.applied("acro-status", status=output.status)
    if output.not_for_release:
        out.flag((), (), "acro-status", "ACRO marks this output DONT_RELEASE", "fail")
        return out, "fail"
    if output.exception:
        out.notes.append(f"researcher's exception request: {output.exception}")
    if output.frequency_table:
        out.extend(recheck())
        return out, "review" if output.exception else "pass"
    if output.single_unit:
        out.applied("single-unit", outcome=single_unit_stats)
        out.flag((), (), "single-unit", "a table of minima, maxima or quantiles shows single "
                 "people's values", single_unit_stats)
        return out, "review"
    if output.type == "regression" and "dof" in output.properties:
        out.extend(dof_check(float(output.properties["dof"])))
        return out, "pass" if output.status == "pass" else "review"
    out.notes.append(f"ACRO {output.type} output: spe cannot re-check it without evidence; "
                     f"ACRO says {output.status}")
    return out, "review"
