"""Which released tables overlap a table: what a checker reads beside the differencing audit.

The audit (:mod:`.audit`) names only the released tables whose combination with a new one
reveals a cell. A checker also wants every released table the audit may put in the same
system: tables that may count the same people (:func:`.audit.same_people`) and share a
dimension (or a grand total, which constrains every table of its population), read as the
audit reads them (:func:`.model.prepare`: canonical dimension names, bands) — with what they
share, so that a combination the audit cannot see (a variable recoded, a filter not
recorded) can be judged by a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from egress.differencing.audit import same_people
from egress.differencing.model import Prepared, prepare
from egress.differencing.tables import CountTable


@dataclass(frozen=True)
class Overlap:
    """A released table that overlaps a table, and where."""

    table: CountTable
    dims: list[str]  # the dimensions both have (canonical names)
    categories: dict[str, list[str]]  # per shared dimension, the categories both publish
    total: bool  # one of the two is a grand total (no dimension)

    @property
    def shared_cells(self) -> int:
        return sum(len(v) for v in self.categories.values())


def _labels(t: Prepared, dim: str) -> set[str]:
    return set(t.values.get(dim, ()))


def overlaps(table: CountTable, released: Iterable[CountTable]) -> list[Overlap]:
    """The tables of ``released`` that may count ``table``'s people and share a dimension
    with it (or are, or meet, a grand total); most shared first."""
    mine = prepare(table)
    found = []
    for other in released:
        theirs = prepare(other)
        if not same_people(mine.population, theirs.population):
            continue
        shared = [d for d in theirs.dims if d in mine.dims]
        total = not mine.dims or not theirs.dims
        if not shared and not total:
            continue
        common = {d: sorted(theirs.originals.get(v, v)
                            for v in _labels(mine, d) & _labels(theirs, d)) for d in shared}
        found.append(Overlap(other, shared, common, total))
    return sorted(found, key=lambda o: (-len(o.dims), -o.shared_cells, o.table.name))
