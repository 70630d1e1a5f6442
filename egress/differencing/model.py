"""Count tables as linear constraints over the finest common partition of their population.

Every published cell says "the people in these categories number n". Aligned on one set of
dimensions — categories by label, numeric bands split at every breakpoint any table uses,
totals as sums over a whole dimension, filters as conditions on every cell — each cell is
the sum of some *atoms* (the finest cells no table subdivides), and the released tables and
the request together are a system ``A x (=|<=) b, x >= 0`` over the atoms' counts ``x``.
:mod:`egress.differencing.audit` asks that system how tightly it pins down each cell.

A table over a dimension the model leaves out (see ``MAX_ATOMS``) is summed over it: an
equality when its categories cover the whole dimension, an upper bound (``<=``) when they
do not, so the model never claims more than the tables say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise, product
from typing import TYPE_CHECKING

import numpy as np

from egress.differencing.labels import (
    Band,
    band_style,
    canonical,
    is_generic_measure,
    is_range,
    is_total,
    mentions_age,
    normalise,
    parse_band,
    to_band,
)
from egress.differencing.tables import CountTable

if TYPE_CHECKING:
    from scipy import sparse

MAX_ATOMS = 4096  # the full model over every dimension up to this many atoms, else projected
GENERIC_DIMS = frozenset({
    "population", "group", "groupe", "sous-population", "sous population", "subgroup",
    "sub-population", "subpopulation", "block", "bloc", "filter", "filtre", "champ", "scope",
})
NOT_SHOWN = "(not shown)"
UNNAMED = "column"  # the dimension name the CSV reader gives to a table's column headers


class Unaligned(Exception):
    """Tables that may count the same people but whose categories cannot be lined up."""


@dataclass
class Prepared:
    """A table as the model reads it: canonical dimension names, one condition per dimension."""

    source: CountTable
    population: tuple[str, str]
    dims: list[str]
    rows: list[tuple[dict[str, str], int]]
    shown: Sequence[str]  # each row's labels as the table shows them, for explanations
    originals: dict[str, str] = field(default_factory=dict)  # normalised label -> as written

    @property
    def name(self) -> str:
        return self.source.name

    @cached_property
    def values(self) -> dict[str, frozenset[str]]:
        """Each dimension's labels, totals aside."""
        out: dict[str, set[str]] = {}
        for conds, _ in self.rows:
            for d, v in conds.items():
                out.setdefault(d, set()).add(v)
        return {d: frozenset(v for v in vs if not is_total(v)) for d, vs in out.items()}

    @cached_property
    def published(self) -> dict[tuple[tuple[str, str], ...], tuple[int, int]]:
        """Each cell's conditions (in one order) -> its count and its row's index."""
        return {tuple(sorted(conds.items())): (n, i) for i, (conds, n) in enumerate(self.rows)}

    def disjoint(self) -> bool:
        """No cell holds another (no totals, no stacked blocks): alone, nothing to combine."""
        values = {v for conds, _ in self.rows for v in conds.values()}
        return not any(is_total(v) or ((p := parse_band(v)) and is_range(p)) for v in values)


def prepare(table: CountTable) -> Prepared:
    """Canonical dimension names; a long table's lone count column becomes its measure."""
    dims = [normalise(d) for d in table.dims]
    measure = ""
    drop: set[int] = set()
    for i, d in enumerate(dims):
        values = {k[i] for k in table.cells}
        if d == UNNAMED and len(values) == 1:
            drop.add(i)
            (only,) = values
            measure = "" if is_generic_measure(only) else normalise(only)
    kept = [i for i in range(len(dims)) if i not in drop]
    # each distinct label read once; bands in this table's own style, then written so that
    # every table reads them alike
    canon = {}
    for i in kept:
        values = {k[i] for k in table.cells}
        bands = _as_bands(values)
        canon[i] = {v: bands.get(v) or normalise(v) for v in values}
    filters, originals = {}, {}
    for d, v in table.filters.items():
        filters[normalise(d)] = _as_bands({v}).get(v, normalise(v))
        originals[filters[normalise(d)]] = str(v)
    for i in kept:
        originals.update({c: v for v, c in canon[i].items()})
    names = [dims[i] for i in kept]
    rows = []
    for key, count in table.cells.items():
        conds = dict(filters)
        conds.update(zip(names, (canon[i][key[i]] for i in kept), strict=True))
        rows.append((conds, int(count)))
    shown = _Shown(table, kept)
    return Prepared(table, (normalise(table.population), measure), names, rows, shown,
                    originals)


class _Shown:
    """Each row's labels as the table writes them, made only when an explanation needs one."""

    def __init__(self, table: CountTable, kept: list[int]) -> None:
        self.table, self.kept = table, kept
        self.keys = list(table.cells)

    def __getitem__(self, i: int) -> str:
        key = self.keys[i]
        return ", ".join(f"{self.table.dims[j]}={key[j]}" for j in self.kept) or "all"

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self):
        return (self[i] for i in range(len(self.keys)))



def _as_bands(labels: set[str]) -> dict[str, str]:
    """Each label of a banded dimension (as one table writes it) in canonical form."""
    parsed = {lab: parse_band(lab) for lab in labels if not is_total(lab)}
    if not parsed or None in parsed.values() or not any(map(is_range, parsed.values())):
        return {}
    style = band_style(list(parsed.values()))
    return {lab: canonical(to_band(p, style)) for lab, p in parsed.items()}


@dataclass
class Dimension:
    """The atoms of one dimension and, for each label, which atoms it covers."""

    name: str
    atoms: list[str]
    cover: dict[str, np.ndarray] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)  # an atom's label as a table writes it

    def show(self, i: int) -> str:
        return self.shown.get(self.atoms[i], self.atoms[i])

    def covers(self, label: str) -> np.ndarray:
        if is_total(label) or label not in self.cover:
            return np.arange(len(self.atoms))
        return self.cover[label]


def dimension(name: str, labels: set[str]) -> Dimension:
    """Atoms of a dimension from every label the tables give it.

    When a table gives the dimension a total, the total may hold people in categories no
    table names: one more atom stands for them (``(not shown)``; for bands, the range beyond
    the last band, and below the first unless it starts at 0).
    """
    total = any(is_total(lab) for lab in labels)
    labels = {lab for lab in labels if not is_total(lab)}
    parsed = {lab: parse_band(lab) for lab in labels}
    ranged = [lab for lab, p in parsed.items() if p is not None and is_range(p)]
    if not ranged:
        atoms = sorted(labels) + ([NOT_SHOWN] if total else [])
        return Dimension(name, atoms, {lab: np.array([i]) for i, lab in enumerate(atoms)})
    unparsed = sorted(lab for lab, p in parsed.items() if p is None)
    if unparsed:
        raise Unaligned(f"dimension {name!r} mixes numeric bands ({', '.join(sorted(ranged)[:3])}"
                        f") with categories that are not ({', '.join(unparsed[:3])})")
    style = band_style(list(parsed.values()))
    bands = {lab: to_band(p, style) for lab, p in parsed.items()}
    if any(b.lo >= b.hi for b in bands.values()):
        raise Unaligned(f"dimension {name!r}: a band is empty once aligned "
                        f"({', '.join(sorted(bands))})")
    points = {v for b in bands.values() for v in (b.lo, b.hi)}
    if total:
        points |= {math.inf} | ({-math.inf} if min(points) != 0 else set())
    points = sorted(points)
    atoms = [Band(lo, hi) for lo, hi in pairwise(points)]
    cover = {lab: np.array([i for i, a in enumerate(atoms) if b.lo <= a.lo and a.hi <= b.hi])
             for lab, b in bands.items()}
    return Dimension(name, [str(a) for a in atoms], cover)


def align(tables: list[Prepared]) -> list[Prepared]:
    """Give unnamed and generically named dimensions the name of the one they match.

    A wide table's column headers come as dimension ``column``: it takes the name of another
    table's dimension with the same categories. A stacked file's block column
    (``population: all / under 90``) takes the name of the one numeric dimension of the group
    its bands belong to (``age`` when the labels speak of ages). A renamed table is a new
    :class:`Prepared`; the others are returned as they are.
    """
    named: dict[str, set[str]] = {}
    for t in tables:
        for d in t.dims:
            if d != UNNAMED and d not in GENERIC_DIMS:
                named.setdefault(d, set()).update(t.values[d])
    out = []
    for t in tables:
        renames = {}
        for d in t.dims:
            if d != UNNAMED and d not in GENERIC_DIMS:
                continue
            values = t.values[d]
            target = None
            banded = values and all(parse_band(v) for v in values)
            if d == UNNAMED and not banded:
                matches = [n for n, v in named.items() if n not in t.dims and len(values & v) >= 2
                           and (values <= v or v <= values)]
                target = matches[0] if len(matches) == 1 else None
            elif (d == UNNAMED or d in GENERIC_DIMS) and banded:
                banded = [n for n, v in named.items() if n not in t.dims
                          and v and all(parse_band(x) for x in v)]
                if len(banded) == 1:
                    target = banded[0]
                elif any(mentions_age(v) for v in values) and "age" not in t.dims:
                    target = "age"
            if target:
                renames[d] = target
        out.append(_renamed(t, renames) if renames else t)
    return out


def _renamed(t: Prepared, renames: dict[str, str]) -> Prepared:
    rows = [({renames.get(d, d): v for d, v in conds.items()}, n) for conds, n in t.rows]
    return Prepared(t.source, t.population, [renames.get(d, d) for d in t.dims], rows, t.shown,
                    t.originals)


@dataclass
class Row:
    atoms: np.ndarray
    count: int
    equal: bool
    table: str
    cell: str


@dataclass
class Model:
    """The constraint system of a group of tables over the dimensions ``dims``.

    ``rows[i]`` are the constraints of the group's i-th table.
    """

    dims: list[Dimension]
    rows: list[list[Row]]
    projected: bool

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(d.atoms) for d in self.dims)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def matrix(self, rows: list[Row]) -> sparse.csr_matrix:
        from scipy import sparse  # 0.1 s to import: a lone table (`spe egress check`) has no model

        indptr = np.cumsum([0, *(len(r.atoms) for r in rows)])
        indices = np.concatenate([r.atoms for r in rows]) if rows else np.zeros(0, int)
        return sparse.csr_matrix((np.ones(len(indices)), indices, indptr),
                                 shape=(len(rows), self.size))

    def atoms_of(self, conds: dict[str, str]) -> np.ndarray:
        """Flat indices of the atoms matching ``conds`` (a dimension not named: all of it)."""
        return self._flat([d.covers(conds[d.name]) if d.name in conds
                           else np.arange(len(d.atoms)) for d in self.dims])

    def margin(self, dim: Dimension, i: int) -> np.ndarray:
        """Flat indices of the atoms in ``dim``'s i-th atom, every other dimension summed."""
        return self._flat([np.array([i]) if d is dim else np.arange(len(d.atoms))
                           for d in self.dims])

    def _flat(self, axes: list[np.ndarray]) -> np.ndarray:
        if not axes:
            return np.zeros(1, dtype=int)
        grid = np.broadcast_arrays(*np.ix_(*axes))
        return np.ravel_multi_index(tuple(grid), self.shape).ravel()


def build(tables: list[Prepared], every: dict[str, Dimension], keep: set[str],
          projected: bool = False) -> Model:
    """The model of ``tables`` over the dimensions in ``keep`` (``every``: :func:`dimensions`)."""
    dims = [every[d] for d in sorted(every) if d in keep]
    model = Model(dims, [], projected)
    kept = {d.name for d in dims}
    model.rows = [_table_rows(model, t, every, kept) for t in tables]
    return model


def dimensions(tables: list[Prepared]) -> dict[str, Dimension]:
    """Every dimension of the group; a table without one counts all of it, as a total does."""
    labels: dict[str, set[str]] = {}
    for t in tables:
        for conds, _ in t.rows:
            for d, v in conds.items():
                labels.setdefault(d, set()).add(v)
    for t in tables:
        for d in labels:
            if any(d not in conds for conds, _ in t.rows):
                labels[d].add("total")
    out = {d: dimension(d, v) for d, v in labels.items()}
    for t in tables:
        for dim in out.values():
            dim.shown.update({k: v for k, v in t.originals.items() if k in dim.cover})
    return out


def _table_rows(model: Model, t: Prepared, every: dict[str, Dimension],
                kept: set[str]) -> list[Row]:
    """One row per cell; cells over dimensions left out are summed into one row per kept key."""
    out_dims = [d for d in {d for c, _ in t.rows for d in c} if d not in kept]
    rows = list(zip(t.rows, t.shown, strict=True))
    for d in out_dims:  # a table's breakdown beside its own total says nothing more
        if any(is_total(c.get(d, "")) for (c, _), _ in rows):
            rows = [r for r in rows if is_total(r[0][0].get(d, ""))]
    equal = all(_covers_all(every[d], {c[d] for (c, _), _ in rows if d in c}) for d in out_dims)
    grouped: dict[tuple, tuple[int, list[str], dict[str, str]]] = {}
    for (conds, count), shown in rows:
        key = tuple(sorted((d, v) for d, v in conds.items() if d in kept))
        total, names, _ = grouped.get(key, (0, [], {}))
        grouped[key] = (total + count, [*names, shown], dict(key))
    return [Row(model.atoms_of(conds), total, equal, t.name,
                names[0] if len(names) == 1 else
                f"{', '.join(f'{d}={v}' for d, v in conds.items()) or 'all'} "
                f"(summed over {', '.join(out_dims)})")
            for total, names, conds in grouped.values()]


def _covers_all(dim: Dimension, labels: set[str]) -> bool:
    if any(is_total(v) for v in labels):
        return True
    covered = set()
    for v in labels:
        covered.update(dim.covers(v).tolist())
    return len(covered) == len(dim.atoms)


def choose_dims(new: Prepared, tables: list[Prepared],
                every: dict[str, Dimension]) -> tuple[set[str], bool]:
    """Every dimension when the atoms stay few, else the new table's and the filters'."""
    sizes = {d: len(dim.atoms) for d, dim in every.items()}
    if math.prod(sizes.values()) <= MAX_ATOMS:
        return set(sizes), False
    filtered = {normalise(d) for t in tables for d in t.source.filters}
    return {d for d in sizes if d in new.dims or d in filtered}, True


def targets(model: Model, limit: int) -> tuple[list[tuple[str, np.ndarray]], bool]:
    """Cells to bound: every atom of a cell that overlaps the new table's (``rows[0]``), then
    every one-dimension margin. The atoms outside the new table count: the people over 90
    are what "everyone" minus "under 90" reveals.

    Returns the labelled atom sets and whether the list was cut at ``limit``.
    """
    mine = np.zeros(model.size, dtype=bool)
    for row in model.rows[0]:
        mine[row.atoms] = True
    touched = mine.copy()
    for rows in model.rows[1:]:
        for row in rows:
            if mine[row.atoms].any():
                touched[row.atoms] = True
    found: list[tuple[str, np.ndarray]] = []
    for combo in product(*(range(len(d.atoms)) for d in model.dims)):
        flat = int(np.ravel_multi_index(combo, model.shape)) if model.dims else 0
        if touched[flat]:
            label = ", ".join(f"{d.name}={d.show(i)}" for d, i in zip(model.dims, combo,
                                                                      strict=True))
            found.append((label or "all", np.array([flat])))
        if len(found) > limit:
            return found[:limit], True
    if len(model.dims) > 1:
        found += [(f"{d.name}={d.show(i)}", model.margin(d, i))
                  for d in model.dims for i in range(len(d.atoms))]
    return found[:limit], len(found) > limit
