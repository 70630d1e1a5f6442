"""The machine-readable check record of one file, and its published JSON Schema."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from egress.sdc.assess import SEVERITY, Assessment
from egress.sdc.params import SdcRules
from spe.messages import Message

KINDS = ("acro", "analysis-table", "csv-table", "other")


def make_record(file: str, sha256: str, kind: str, rules: SdcRules, assessment: Assessment, *,
                at_least: str = "pass", table: dict[str, Any] | None = None,
                acro: dict[str, Any] | None = None,
                interpretation: dict[str, Any] | None = None,
                replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record whose outcome is the worst of the flags and ``at_least``."""
    outcome = max(assessment.outcome, at_least, key=SEVERITY.__getitem__)
    record: dict[str, Any] = {
        "file": file,
        "sha256": sha256,
        "kind": kind,
        "policy": {"name": rules.pack, "version": rules.version},
        "outcome": outcome,
        "rules": assessment.rules,
        "flags": assessment.flags,
        "notes": [str(n) for n in assessment.notes],
        "note_messages": [n.as_json() if isinstance(n, Message) else str(n)
                          for n in assessment.notes],
    }
    if table is not None:
        record["table"] = table
    if acro is not None:
        record["acro"] = acro
    if interpretation is not None:
        record["interpretation"] = interpretation
    if replay is not None:
        record["replay"] = replay
    return record


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a check record (``egress/schemas/check-record.schema.json``)."""
    text = (resources.files("egress") / "schemas" / "check-record.schema.json").read_text()
    return json.loads(text)


@cache
def _validator():
    return fastjsonschema.compile(schema())  # no format checkers: the schema uses none


def validate(record: dict[str, Any]) -> None:
    """Raise ``fastjsonschema.JsonSchemaValueException`` unless ``record`` follows the
    schema."""
    _validator()(record)
