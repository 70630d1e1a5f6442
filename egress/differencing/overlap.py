"""Which released tables overlap a table: what a checker reads beside the differencing audit.

The audit (:mod:`.audit`) names only the released tables whose combination with a new one
reveals a cell. A checker also wants every released table the audit put in the same system:
the same population, and a dimension in common (or a grand total, which constrains every
table of its population) — with what they share, so that a combination the audit cannot
see (a variable recoded, a filter not recorded) can be judged by a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from egress.differencing.tables import CountTable


@dataclass(frozen=True)
class Overlap:
    """A released table that overlaps a table, and where."""

    table: CountTable
    dims: list[str]  # the dimensions both have, in the released table's order
    categories: dict[str, list[str]]  # per shared dimension, the categories both publish
    total: bool  # one of the two is a grand total (no dimension)

    @property
    def shared_cells(self) -> int:
        return sum(len(v) for v in self.categories.values())


def categories(table: CountTable, dims: Iterable[str] | None = None) -> dict[str, set[str]]:
    """The categories ``table`` publishes in each of ``dims`` (default: all its dimensions)."""
    wanted = set(table.dims if dims is None else dims)
    return {d: {k[i] for k in table.cells} for i, d in enumerate(table.dims) if d in wanted}


def overlaps(table: CountTable, released: Iterable[CountTable]) -> list[Overlap]:
    """The tables of ``released`` that count ``table``'s population and share a dimension
    with it (or are, or meet, a grand total); most shared first."""
    mine = categories(table)
    found = []
    for other in released:
        if other.population != table.population:
            continue
        shared = [d for d in other.dims if d in mine]
        total = not table.dims or not other.dims
        if not shared and not total:
            continue
        theirs = categories(other, shared)  # only what is compared: ledgers can be large
        found.append(Overlap(other, shared, {d: sorted(mine[d] & theirs[d]) for d in shared},
                             total))
    return sorted(found, key=lambda o: (-len(o.dims), -o.shared_cells, o.table.name))
