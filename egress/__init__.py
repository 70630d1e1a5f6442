"""Egress: statistical disclosure control of what leaves the SPE.

Public surface:

- :mod:`egress.tables`: ``crosstab`` / ``pivot_table`` for researchers, with SDC evidence;
- :func:`check_paths`: a check record per file of an egress request;
- :class:`Ledger`, :class:`CountTable`, :func:`check_differencing`: released tables;
- :mod:`egress.errors`: the exceptions raised.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from egress import tables
    from egress.checks import check_paths, released_tables
    from egress.differencing import CountTable, Ledger, check_differencing
    from egress.errors import (
        AcroFormatError,
        EgressError,
        EvidenceError,
        InputError,
        UnknownPolicyError,
    )

_WHERE = {
    "tables": "egress.tables",
    "check_paths": "egress.checks", "released_tables": "egress.checks",
    "CountTable": "egress.differencing", "Ledger": "egress.differencing",
    "check_differencing": "egress.differencing",
    **dict.fromkeys(("AcroFormatError", "EgressError", "EvidenceError", "InputError",
                     "UnknownPolicyError"), "egress.errors"),
}


def __getattr__(name: str):
    """Load the public names on first use: ``spe egress …`` commands that do not touch
    tables must not pay for pandas and the SDC engine at start-up."""
    if name not in _WHERE:
        raise AttributeError(f"module 'egress' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    return module if name == "tables" else getattr(module, name)


__all__ = [
    "AcroFormatError",
    "CountTable",
    "EgressError",
    "EvidenceError",
    "InputError",
    "Ledger",
    "UnknownPolicyError",
    "check_differencing",
    "check_paths",
    "released_tables",
    "tables",
]
