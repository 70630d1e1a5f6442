"""The evidence sidecar ``<table>.sdc.json`` written next to an analysis table.

It lets ``spe egress check`` re-apply the dominance and p% rules offline. It holds per cell
the count of contributors, the absolute total, the two largest absolute contributions and
the number of negative ones: nothing else of the rows, but those largest contributions are
individual values, so the sidecar is **checker-only**: it stays in the workspace and the
quarantine and is never released (a sidecar submitted for release fails its check).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from egress.errors import InputError
from egress.sdc.evidence import TableEvidence

FORMAT = "spe-sdc-sidecar"
SUFFIX = ".sdc.json"
NOTICE = ("Checker-only SDC evidence (per-cell counts and largest contributions). "
          "Stays in the workspace and quarantine; never released.")


def sidecar_path(table_path: Path) -> Path:
    return table_path.with_name(table_path.stem + SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def write_sidecar(table_path: Path, table_sha256: str, evidence: TableEvidence) -> Path:
    out = sidecar_path(table_path)
    doc = {"format": FORMAT, "version": 1, "checker_only": True, "notice": NOTICE,
           "table_file": table_path.name, "table_sha256": table_sha256,
           "evidence": evidence.to_json()}
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
