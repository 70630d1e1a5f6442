"""Egress: statistical disclosure control of what leaves the SPE.

Public surface:

- :mod:`egress.tables`: ``crosstab`` / ``pivot_table`` for researchers, with SDC evidence;
- :func:`check_paths`: a check record per file of an egress request;
- :class:`Ledger`, :class:`CountTable`, :func:`check_differencing`: released tables;
- :mod:`egress.errors`: the exceptions raised.
"""

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
