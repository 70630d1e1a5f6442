"""Differencing: no combination of released tables and a request reveals a small cell.

:class:`CountTable` and :class:`Ledger` (:mod:`.tables`) are what is kept; :mod:`.labels`
reads totals and numeric bands; :mod:`.model` turns tables into linear constraints over the
finest common partition; :func:`check_differencing` (:mod:`.audit`) bounds every cell,
and :mod:`.nested` the difference of two populations one of which may hold the other.
"""

from egress.differencing.audit import Auditor, check_differencing
from egress.differencing.findings import Disclosure, NotAudited
from egress.differencing.tables import CountTable, Ledger

__all__ = ["Auditor", "CountTable", "Disclosure", "Ledger", "NotAudited", "check_differencing"]
