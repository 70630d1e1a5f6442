"""What a table's labels mean: totals, numeric bands, measures, in French and English.

Tables are aligned by label: ``"Total général"`` and ``"All"`` both mean "every category of
this dimension"; ``"18-64"``, ``"18 à 64 ans"`` and ``"[18;65["`` are the same band of ages;
``"65+"`` and ``"65 ans et plus"`` are open-ended. A band is a half-open interval
``[lo, hi)``; whether ``"a-b"`` includes ``b`` (ages: 0-17, 18-64) or stops before it
(amounts: 0-1000, 1000-5000) is decided per dimension by :func:`band_style`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

TOTALS = frozenset({
    "total", "totals", "all", "overall", "everyone", "sum", "grand total", "all ages",
    "total general", "ensemble", "tous", "toutes", "tout", "somme", "total france",
    "tous ages", "toutes classes", "france entiere",
})
GENERIC_MEASURES = frozenset({
    "n", "count", "counts", "number", "frequency", "freq", "patients", "people", "persons",
    "individuals", "cases", "total", "value", "nb", "nombre", "effectif", "effectifs", "n_patients",
    "nb_patients", "nombre de patients", "individus", "personnes", "valeur", "column", "",
})
_NUMBER = r"(-?\d+(?:[.,]\d+)?)"


_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SPACES = re.compile(r"\s+")


def normalise(label: object) -> str:
    """Case, accents, spacing and dashes folded: the form labels are compared in."""
    return _normalise(str(label))


@lru_cache(maxsize=65536)
def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _SPACES.sub(" ", _DASHES.sub("-", text)).strip()


def is_total(label: object) -> bool:
    return normalise(label) in TOTALS


def is_generic_measure(name: object) -> bool:
    """A count column's name that says nothing of who is counted (``n``, ``effectif``)."""
    return normalise(name).replace("-", "_") in GENERIC_MEASURES


@dataclass(frozen=True, order=True)
class Band:
    """``[lo, hi)`` on a numeric dimension; ``hi`` may be infinite."""

    lo: float
    hi: float

    def __str__(self) -> str:
        lo = "-∞" if math.isinf(self.lo) else _num(self.lo)
        hi = "∞" if math.isinf(self.hi) else _num(self.hi)
        return f"[{lo}, {hi})"


@dataclass(frozen=True)
class _Parsed:
    lo: float
    hi: float
    closed: bool  # "a-b": hi is b itself (a closed range); the style decides what that means
    point: bool = False


_UNIT = r"(?:\s*(?:ans?|years?|yrs?|y|€|eur|euros?|%|jours?|days?|mois|months?))?"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^\[\s*{_NUMBER}\s*[,;]\s*{_NUMBER}\s*[)\[]$"), "half-open"),
    (re.compile(rf"^(?:de |from |aged? )?{_NUMBER}{_UNIT}\s*(?:-|to|a|au|and)\s*"
                rf"{_NUMBER}{_UNIT}$"), "range"),
    (re.compile(rf"^(?:aged? )?{_NUMBER}{_UNIT}\s*(?:\+|and over|and older|or more|or older|"
                r"et plus|ou plus|and above|plus)$"), "from"),
    (re.compile(rf"^(?:>=|≥|=>|at least|au moins|from|a partir de)\s*{_NUMBER}{_UNIT}$"), "from"),
    (re.compile(rf"^(?:>|over|more than|plus de|above)\s*{_NUMBER}{_UNIT}$"), "above"),
    (re.compile(rf"^(?:<|under|below|less than|moins de|younger than)\s*{_NUMBER}{_UNIT}$"),
     "below"),
    (re.compile(rf"^(?:<=|≤|=<|at most|up to|au plus|jusqu'a)\s*{_NUMBER}{_UNIT}$"), "upto"),
    (re.compile(rf"^{_NUMBER}{_UNIT}$"), "point"),
]
_PREFIX = re.compile(r"^(?:age|âge|ages|annee|year|age group|tranche d'age)\s*[:=]?\s*")


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_band(label: object) -> _Parsed | None:
    """The interval a label names, or None; ``"age<90"`` and ``"moins de 90 ans"`` alike."""
    return _parse_band(normalise(label))


@lru_cache(maxsize=65536)
def _parse_band(text: str) -> _Parsed | None:
    text = _PREFIX.sub("", text)
    text = re.sub(r"^(?:age|ages)\s*(?=[<>≤≥=])", "", text)
    for pattern, kind in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        a = _float(m.group(1))
        if kind == "half-open":
            return _Parsed(a, _float(m.group(2)), closed=False)
        if kind == "range":
            b = _float(m.group(2))
            return _Parsed(a, b, closed=True) if b >= a else None
        if kind == "from":
            return _Parsed(a, math.inf, closed=False)
        if kind == "above":
            return _Parsed(a, math.inf, closed=False, point=True)  # > a: from a's successor
        if kind == "below":
            return _Parsed(-math.inf, a, closed=False)
        if kind == "upto":
            return _Parsed(-math.inf, a, closed=True)
        return _Parsed(a, a, closed=True, point=True)
    return None


def mentions_age(label: object) -> bool:
    text = normalise(label)
    return bool(re.search(r"\b(age|ages|ans|years?|yrs)\b", text))


def band_style(parsed: list[_Parsed]) -> str:
    """``"inclusive"`` when closed ranges abut as integers (0-17, 18-64), else ``"half-open"``.

    Ranges that share an end (0-1000, 1000-5000) can only be half-open; ranges whose ends
    are all integers and never shared are inclusive integer ranges, as age bands are written.
    """
    closed = [p for p in parsed if p.closed and not p.point]
    ends = {p.hi for p in closed}
    starts = {p.lo for p in parsed}
    if ends & starts:
        return "half-open"
    integral = all(float(v).is_integer() for p in parsed for v in (p.lo, p.hi)
                   if not math.isinf(v))
    return "inclusive" if integral else "half-open"


def to_band(p: _Parsed, style: str) -> Band:
    """The half-open interval of a parsed label under the dimension's ``style``."""
    step = 1.0 if style == "inclusive" else 0.0
    lo, hi = p.lo, p.hi
    if p.point and math.isinf(hi):  # "> a"
        lo = lo + (1.0 if style == "inclusive" else 0.0)
    elif p.point:  # a single value
        hi = lo + 1.0 if style == "inclusive" else lo
    elif p.closed:
        hi = hi + step
    return Band(lo, hi)


def canonical(band: Band) -> str:
    """A label every table reads as exactly ``band``, whatever its own style."""
    if math.isinf(band.lo):
        return f"<{_num(band.hi)}"
    if math.isinf(band.hi):
        return f">={_num(band.lo)}"
    return f"[{_num(band.lo)};{_num(band.hi)}["


def is_range(p: _Parsed) -> bool:
    return not (p.point and not math.isinf(p.hi))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
