"""What each cell of a plain CSV table means, decided before any rule runs.

Every column gets a role: ``dimension`` (labels), ``count``, ``statistic`` (a mean, sum,
minimum... with the count it rests on), ``percentage`` (with its denominator) or
``unknown`` (with the reason). Suppression markers (``*``, ``<11``, ``s``...) stay cells of
their column. Totals are found by name (Total, Total général, Ensemble, All...) and by
arithmetic (a row or column equal to the sum of the others); each total gives linear
constraints over the cells it adds up, which the checks use to recover suppressed cells.

Names are matched on accent-free, lower-case words, so French and English headers read alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from egress.csvformat import CsvText, parse_number
from spe.messages import Message

COUNT_WORDS = {
    "n", "nb", "nbr", "nbre", "nombre", "count", "counts", "cnt", "freq", "frequency",
    "frequence", "number", "effectif", "effectifs", "eff", "patients", "patient", "persons",
    "people", "personnes", "individus", "individuals", "cases", "cas", "deaths", "death",
    "deces", "hospitalisations", "hospitalizations", "admissions", "sejours", "stays",
    "beneficiaires", "beneficiaries", "consommants", "users", "events", "evenements",
    "subjects", "participants", "births", "naissances", "households", "menages",
    "respondents", "repondants", "malades", "sujets"}
MAGNITUDE_WORDS = {
    "mean": "mean", "moyenne": "mean", "moy": "mean", "avg": "mean", "average": "mean",
    "sum": "sum", "somme": "sum", "cost": "sum", "costs": "sum", "cout": "sum", "couts": "sum",
    "montant": "sum", "montants": "sum", "amount": "sum", "depense": "sum",
    "depenses": "sum", "remboursement": "sum", "remboursements": "sum", "eur": "sum",
    "euros": "sum", "price": "sum", "prix": "sum", "sd": "std", "std": "std",
    "stdev": "std", "ecart": "std", "variance": "std", "var": "std", "duree": "mean",
    "duration": "mean", "rate": "rate", "taux": "rate", "ratio": "rate",
    "prevalence": "rate", "incidence": "rate", "per1000": "rate", "or": "rate",
    "hr": "rate", "rr": "rate", "coef": "rate", "coefficient": "rate", "beta": "rate"}
SINGLE_UNIT_WORDS = {
    "min": "min", "minimum": "min", "max": "max", "maximum": "max", "median": "median",
    "mediane": "median", "q1": "quantile", "q3": "quantile", "quartile": "quantile",
    "percentile": "quantile", "quantile": "quantile", "decile": "quantile",
    "iqr": "quantile", "range": "quantile", "etendue": "quantile", "first": "quantile",
    "last": "quantile", "premier": "quantile", "dernier": "quantile", "mode": "quantile"}
PERCENT_WORDS = {"%", "pct", "percent", "percentage", "pourcent", "pourcentage", "share",
                 "part", "proportion", "prop"}
LABEL_WORDS = {
    "year", "annee", "an", "age", "code", "dept", "departement", "region", "reg", "month",
    "mois", "week", "semaine", "day", "jour", "date", "sex", "sexe", "zip", "postcode", "cp",
    "commune", "cim", "icd", "atc", "cip", "ucd", "finess", "category", "categorie",
    "classe", "class", "group", "groupe", "department", "departments", "dep", "county",
    "state", "country", "pays", "ville", "city", "tranche", "band", "quarter", "trimestre",
    "period", "periode", "level", "niveau", "rank", "rang", "cluster", "strate", "stratum"}
TOTAL_WORDS = {"total", "totals", "totaux", "ensemble", "all", "overall", "tous", "toutes",
               "global", "globale", "sum"}
QUANTILE = re.compile(r"^(p(5|10|25|50|75|90|95|99)|q[13]|d(1|9))$")
DEFAULT_MARKERS = ("*", "**", "***", "s", "S", "NA", "N/A", "n/a", "na", "NaN", "nan", "c",
                   "C", "x", "X", "-", "\u2013", "\u2014", "..", "...", "…", "[REDACTED]",
                   "REDACTED", "redacted", "suppressed", "supprimé", "secret", "NS", "ns",
                   "ND", "nd", "n.d.", "nc", "NC", "n.c.", "masqué", "masque", "<seuil", "< seuil",
                   "small", "low")
MARKER_PATTERN = re.compile(
    r"^\s*(?:[<≤>≥]\s*=?\s*\d+(?:[.,]\d+)?|\d+\s*[-\u2013]\s*\d+)\s*$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@lru_cache(maxsize=65536)
def words(name: str) -> tuple[str, ...]:
    """Accent-free lower-case words of a header (``"Nb_décès 2019"`` → nb, deces, 2019); a
    word of letters then digits also gives its parts (``p95`` → p95, p, 95)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    out: list[str] = []
    for w in re.split(r"[^a-z0-9%]+", plain.replace("%", " % ")):
        if w:
            out.append(w)
            parts = re.sub(r"([a-z])([0-9])", r"\1 \2", w).split()
            if len(parts) > 1:
                out += parts
    return tuple(out)


@lru_cache(maxsize=65536)
def is_total_label(value: str) -> bool:
    w = words(value)
    return bool(w) and (w[0] in TOTAL_WORDS or (len(w) > 1 and w[-1] in TOTAL_WORDS
                                                  and len(w) <= 2))


def is_formula(cell: str) -> bool:
    """A text cell a spreadsheet would run as a formula (numbers like -3 are numbers)."""
    return (cell.startswith(FORMULA_START) and cell.strip() not in DEFAULT_MARKERS
            and parse_number(cell, ".") is None and parse_number(cell, ",") is None)


@dataclass
class Column:
    name: str
    role: str  # dimension | count | statistic | percentage | unknown
    statistic: str | None = None
    rests_on: str | None = None
    denominator: str | None = None
    total_of: list[str] | None = None
    reason: Message | None = None
    addable: bool = False  # non-negative whole numbers: may be a part of a total

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "addable"}


@dataclass
class Interpretation:
    """Roles, values and totals of a table; ``values`` is NaN where a cell shows no number."""

    text: CsvText
    columns: list[Column]
    values: np.ndarray  # rows x columns, float
    suppressed: np.ndarray  # rows x columns, bool: a marker or a blank in a numeric column
    markers: dict[tuple[int, int], str]
    formulas: list[tuple[int, int]]
    total_rows: dict[int, str] = field(default_factory=dict)  # row -> how it was found
    constraints: list[tuple[tuple[int, int], list[tuple[int, int]]]] = field(
        default_factory=list)
    notes: list[Message] = field(default_factory=list)
    mismatches: list[tuple[int, int, float]] = field(default_factory=list)  # total - parts
    half_base: float = 0.0  # rounding slack per term of a sum
    threshold: int = 0  # the pack's: what a recovered sum must reach
    doubts: list[Message] = field(default_factory=list)  # what keeps the meaning uncertain

    def adds_up(self, total: np.ndarray | float, parts_sum: np.ndarray | float,
                terms: int) -> bool:
        return bool(np.all(np.abs(np.asarray(total) - parts_sum)
                           <= self.half_base * (terms + 1) + 1e-9))

    def role(self, role: str) -> list[int]:
        return [j for j, c in enumerate(self.columns) if c.role == role]

    def row_label(self, i: int) -> tuple[str, ...]:
        return self.row_labels[i]

    @cached_property
    def row_labels(self) -> list[tuple[str, ...]]:
        """Each row's labels, one per dimension column (its number when it has none);
        computed once roles are settled."""
        dims = self.role("dimension")
        rows = self.text.rows
        if not dims:
            return [(str(i + 1),) for i in range(len(rows))]
        if len(dims) == 1:
            d = dims[0]
            return [(r[d].strip(),) for r in rows]
        return list(zip(*[[r[d].strip() for r in rows] for d in dims], strict=True))

    @property
    def understood(self) -> bool:
        return all(c.role != "unknown" for c in self.columns)

    def to_json(self) -> dict[str, Any]:
        names = self.text.header
        return {
            "format": self.text.format.to_json(),
            "understood": self.understood,
            "columns": [c.to_json() for c in self.columns],
            "total_rows": [{"row": i + 1, "labels": list(self.row_label(i)), "found_by": how}
                           for i, how in sorted(self.total_rows.items())],
            "suppressed": [{"row": i + 1, "column": names[j], "marker": m}
                           for (i, j), m in sorted(self.markers.items())],
            "formulas": [{"row": i + 1, "column": names[j]} for i, j in self.formulas],
        }


def _name_role(name: str) -> tuple[str | None, str | None]:
    """Role (and statistic) a header names, before looking at values."""
    w = words(name)
    ws = set(w)
    if ws & PERCENT_WORDS:
        return "percentage", None
    single = [SINGLE_UNIT_WORDS[x] for x in w if x in SINGLE_UNIT_WORDS] or \
        ["quantile" for x in w if QUANTILE.match(x)]
    if single:
        return "statistic", single[0]
    magnitude = [MAGNITUDE_WORDS[x] for x in w if x in MAGNITUDE_WORDS]
    if magnitude:
        return "statistic", magnitude[0]
    if ws & COUNT_WORDS:
        return "count", None
    if ws & LABEL_WORDS and not any(x.isdigit() for x in w):
        return "dimension", None
    return None, None


def interpret(text: CsvText, markers: tuple[str, ...], label_columns: int = 0,
              rounding_base: int | None = None, threshold: int = 0) -> Interpretation:
    """The interpretation of ``text``; ``label_columns`` leading columns are labels whatever
    they hold (ACRO writes row labels first, even numeric ones). With ``rounding_base``
    (counts rounded by the pack), a total may differ from the sum of its rounded parts by
    half a base per term."""
    rows, names, decimal = text.rows, text.header, text.format.decimal
    nrows, ncols = len(rows), len(names)
    marker_set = set(markers)
    values = np.full((nrows, ncols), np.nan)
    kinds = np.zeros((nrows, ncols), dtype=np.int8)  # 0 empty, 1 number, 2 marker, 3 text
    percent_signs = np.zeros(ncols, dtype=int)
    found_markers: dict[tuple[int, int], str] = {}
    formulas = []
    for j in range(ncols):
        col = [row[j] for row in rows]
        seen = {c: _classify(c, decimal, marker_set) for c in set(col)}
        kinds[:, j] = [seen[c][0] for c in col]
        values[:, j] = [seen[c][1] for c in col]
        for i in np.nonzero(kinds[:, j] == 2)[0]:
            found_markers[(int(i), j)] = col[i].strip()
        formulas += [(int(i), j) for i in np.nonzero(kinds[:, j] == 3)[0] if seen[col[i]][2]]
        percent_signs[j] = sum(c.strip().endswith("%") and k == 1
                               for c, (k, _, _) in seen.items())
    columns = []
    for j, name in enumerate(names):
        k = kinds[:, j]
        numbers, texts = int((k == 1).sum()), int((k == 3).sum())
        if j < label_columns or (numbers == 0 and texts > 0) or texts > numbers:
            columns.append(Column(name, "dimension"))
            continue
        if numbers == 0 and not (k == 2).any():
            columns.append(Column(name, "unknown", reason=Message("no value at all")))
            continue
        if texts:
            bad = sorted({rows[i][j].strip() for i in np.nonzero(k == 3)[0]})[:3]
            mixed = Message("numbers mixed with text that is not a suppression marker: "
                            "{values}", values=", ".join(map(repr, bad)))
            columns.append(Column(name, "unknown", reason=mixed))
            continue
        columns.append(_numeric_column(name, values[:, j], text.format.header,
                                       percent_signs[j] > 0))
    suppressed = np.zeros((nrows, ncols), dtype=bool)
    for j, col in enumerate(columns):
        if col.role != "dimension":
            suppressed[:, j] = kinds[:, j] != 1
    markers_kept = {(i, j): m for (i, j), m in found_markers.items()
                    if columns[j].role != "dimension"}
    for i in range(nrows):
        for j, col in enumerate(columns):
            if col.role != "dimension" and kinds[i, j] == 0:
                markers_kept[(i, j)] = ""
    out = Interpretation(text, columns, values, suppressed, markers_kept, formulas,
                         half_base=(rounding_base or 0) / 2, threshold=threshold)
    _total_columns(out)
    _total_rows(out)
    _link_statistics(out)
    return out


def _classify(cell: str, decimal: str, markers: set[str]) -> tuple[int, float, bool]:
    """Kind of a cell (0 empty, 1 number, 2 marker, 3 text), its value, whether a formula."""
    c = cell.strip()
    if not c:
        return 0, np.nan, False
    v = parse_number(c, decimal)
    if v is not None:
        return 1, v, False
    if c in markers or MARKER_PATTERN.match(c):
        return 2, np.nan, False
    return 3, np.nan, is_formula(cell)


def _numeric_column(name: str, v: np.ndarray, has_header: bool, percent_sign: bool) -> Column:
    known = v[~np.isnan(v)]
    integers = bool(np.all(known == np.round(known)))
    non_negative = bool(np.all(known >= 0))
    if not has_header:
        return Column(name, "unknown", reason=Message("no header row: nothing says what "
                                                      "these numbers are"))
    role, statistic = _name_role(name)
    if percent_sign:
        role = "percentage"
    if role == "percentage":
        if not non_negative or known.max(initial=0) > 100:
            return Column(name, "unknown", reason=Message("named like a percentage but holds "
                                                          "values outside 0-100"))
        return Column(name, "percentage")
    if role == "statistic":
        return Column(name, "statistic", statistic=statistic)
    if role == "count":
        if not (integers and non_negative):
            return Column(name, "unknown", reason=Message("named like a count but holds "
                                                          "negative or fractional numbers"))
        return Column(name, "count")
    if role == "dimension" and integers:
        return Column(name, "dimension")
    if words(name) and words(name)[0] in TOTAL_WORDS and integers and non_negative:
        return Column(name, "unknown", reason=Message("a total of something not named: "
                                                      "counts or sums?"), addable=True)
    if integers and non_negative:
        return Column(name, "unknown", reason=Message("whole numbers with no name telling "
                                                      "what they are: counts, sums or codes?"),
                                              addable=True)
    return Column(name, "unknown", reason=Message("numbers with no name telling what they are"))


def _additive(interp: Interpretation) -> list[int]:
    """Columns that may add up: counts, and unknown columns of non-negative whole numbers."""
    return [j for j, c in enumerate(interp.columns)
            if c.role == "count" or (c.role == "unknown" and c.addable)]


def _total_columns(interp: Interpretation) -> None:
    """A count-like column equal to the sum of the other count-like columns, row by row;
    named like a total, or in first or last place. Its parts become counts when it or one
    of them is named like a count."""
    cols = _additive(interp)
    if len(cols) < 3:
        return
    names = [c.name for c in interp.columns]
    named = [j for j in cols if words(names[j]) and
             (words(names[j])[0] in TOTAL_WORDS or words(names[j])[-1] in TOTAL_WORDS)]
    candidates = named + [j for j in (cols[-1], cols[0]) if j not in named]
    v, sup = interp.values, interp.suppressed
    for t in candidates:
        parts = [j for j in cols if j != t]
        full = ~sup[:, [t, *parts]].any(axis=1)
        if not full.any():
            if t not in named:
                if _could_be_total(v[:, t], v[:, parts], interp.half_base,
                                   interp.threshold):
                    interp.doubts.append(
                        Message("column {column!r} may be the total of the others, which "
                                "would recover their suppressed cells; every row hides a "
                                "part, so it cannot be verified", column=names[t]))
                continue
            interp.notes.append(Message("column {column!r} is taken as the total of the "
                                        "others by its name: no row shows all its parts",
                                        column=names[t]))
        elif not interp.adds_up(v[full, t], v[full][:, parts].sum(axis=1), len(parts)):
            if t in named:
                interp.notes.append(Message("column {column!r} is named like a total but is "
                                            "not the sum of the other count columns",
                                            column=names[t]))
            continue
        for i in range(len(v)):
            interp.constraints.append(((i, t), [(i, j) for j in parts]))
        if any(interp.columns[j].role == "count" for j in [t, *parts]):
            for j in [t, *parts]:
                interp.columns[j].role, interp.columns[j].reason = "count", None
        interp.columns[t].total_of = [names[j] for j in parts]
        return


def _total_rows(interp: Interpretation) -> None:
    """Rows labelled as totals (per dimension, within the other dimensions' values), or a
    first or last row equal to the sum of all the others."""
    dims = interp.role("dimension")
    counts = interp.role("count")
    rows = interp.text.rows
    n = len(rows)
    if not counts or n < 2:
        return
    is_total = np.zeros((n, len(dims)), dtype=bool)
    for k, d in enumerate(dims):
        col = [r[d] for r in rows]
        flags = {c: is_total_label(c) for c in set(col)}
        is_total[:, k] = [flags[c] for c in col]
    blank = [i for i in (0, n - 1) if dims and all(not rows[i][d].strip() for d in dims)]
    for i in blank:  # an unlabelled first or last row: the total of the others
        is_total[i, :] = True
    named = [int(i) for i in np.nonzero(is_total.any(axis=1))[0]]
    labels = interp.row_labels
    groups: dict[tuple[bool, ...], dict[tuple[str, ...], list[int]]] = {}
    for i in named:
        interp.total_rows[i] = "blank label" if i in blank else "name"
        over = tuple(bool(x) for x in is_total[i])
        if over not in groups:  # rows that are not totals on ``over``, by their other labels
            index: dict[tuple[str, ...], list[int]] = {}
            for s in range(n):
                if not any(is_total[s, k] for k in range(len(dims)) if over[k]):
                    key = tuple(labels[s][k] for k in range(len(dims)) if not over[k])
                    index.setdefault(key, []).append(s)
            groups[over] = index
        key = tuple(labels[i][k] for k in range(len(dims)) if not over[k])
        parts = [s for s in groups[over].get(key, []) if s != i]
        if parts:
            for j in counts:
                interp.constraints.append(((i, j), [(s, j) for s in parts]))
                _check_sum(interp, i, j, parts)
    if named:
        return
    v, sup = interp.values, interp.suppressed
    for i in (n - 1, 0):
        others = [s for s in range(n) if s != i]
        if len(others) < 2:
            continue
        agree = [j for j in counts if not sup[:, j].any()]
        if not agree and _could_be_total(v[i, counts], v[others][:, counts].T,
                                         interp.half_base, interp.threshold):
            interp.doubts.append(Message("row {row} may be the total of the others, which "
                                         "would recover their suppressed cells; every column "
                                         "hides a part, so it cannot be verified", row=i + 1))
            return
        if agree and all(interp.adds_up(v[i, j], v[others, j].sum(), len(others))
                         for j in agree) \
                and all(v[i, j] > 0 for j in agree):
            interp.total_rows[i] = "arithmetic"
            for j in counts:
                interp.constraints.append(((i, j), [(s, j) for s in others]))
            return


def _could_be_total(total: np.ndarray, parts: np.ndarray, half_base: float,
                    threshold: int) -> bool:
    """Whether ``total[r]`` is at least the shown ``parts[r, :]`` in every line r where it is
    shown — a total that suppression keeps from being verified — and, were it one, would
    show a line's hidden parts to sum to fewer than ``threshold``."""
    shown = ~np.isnan(total)
    if not shown.any():
        return False
    known = np.nansum(parts[shown], axis=1)
    slack = half_base * (parts.shape[1] + 1) + 1e-9
    hidden = np.isnan(parts[shown]).any(axis=1)
    return bool(np.all(total[shown] + slack >= known)
                and np.any(hidden & (total[shown] - known < threshold)))


def _check_sum(interp: Interpretation, i: int, j: int, parts: list[int]) -> None:
    """A total row whose parts are all shown must add up; what it adds beyond them is a
    group of people the table does not show."""
    cells = [i, *parts]
    if interp.suppressed[cells, j].any():
        return
    extra = interp.values[i, j] - interp.values[parts, j].sum()
    if not interp.adds_up(extra, 0.0, len(parts)):
        interp.mismatches.append((i, j, float(extra)))


def _link_statistics(interp: Interpretation) -> None:
    """The count each statistic rests on and the denominator of each percentage."""
    counts = interp.role("count")
    names = [c.name for c in interp.columns]
    totals = [j for j in counts if interp.columns[j].total_of]
    base = totals[0] if totals else (counts[0] if len(counts) == 1 else None)
    for j, col in enumerate(interp.columns):
        if col.role == "statistic":
            if base is not None:
                col.rests_on = names[base]
        elif col.role == "percentage":
            if base is None:
                col.role, col.reason = "unknown", (
                    Message("a percentage with no count column to rest on") if not counts else
                    Message("a percentage with several count columns: which is its "
                            "denominator?"))
                continue
            col.denominator = _denominator(interp, j, base)


def _denominator(interp: Interpretation, j: int, base: int) -> str:
    """``base`` as the denominator of percentage column ``j``: a share of the column's total
    when ``j`` is 100 x base / (sum of base), else a share within the row."""
    name = interp.columns[base].name
    col = interp.columns[j]
    rows = [i for i in range(len(interp.values)) if i not in interp.total_rows]
    b, p = interp.values[rows, base], interp.values[rows, j]
    ok = ~(np.isnan(b) | np.isnan(p))
    total = np.nansum(b)
    if ok.sum() >= 2 and total > 0 and np.allclose(p[ok], 100 * b[ok] / total, atol=0.051):
        col.statistic = "share of the column total"
        return f"{name} (column total)"
    col.statistic = "share within the row"
    return name
