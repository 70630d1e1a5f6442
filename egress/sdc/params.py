"""The ``sdc`` section of a policy pack as typed, immutable parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import policies
from egress.errors import UnknownPolicyError
from egress.interpret import DEFAULT_MARKERS


@dataclass(frozen=True)
class Dominance:
    n: int
    k: float


@dataclass(frozen=True)
class Rounding:
    base: int
    method: Literal["nearest", "midpoint"] = "nearest"


@dataclass(frozen=True)
class SdcRules:
    """Rule parameters of one pack; ``pack``/``version`` say where they came from."""

    pack: str
    version: str
    threshold: int
    zeros_disclosive: bool
    dominance: Dominance | None
    p_ratio: float | None
    min_dof: int
    single_unit_stats: Literal["fail", "review"]
    rounding: Rounding | None = None
    secondary: bool = True
    redact_marker: str | None = None
    markers: tuple[str, ...] = DEFAULT_MARKERS
    differencing: bool = True
    max_csv_rows: int | None = None

    @classmethod
    def from_pack(cls, pack: dict[str, Any]) -> SdcRules:
        sdc = pack["sdc"]
        dom = sdc.get("dominance")
        rnd = sdc.get("rounding")
        sup = sdc.get("suppression") or {}
        return cls(
            pack=pack["name"],
            version=pack["version"],
            threshold=sdc["threshold"],
            zeros_disclosive=sdc["zeros_disclosive"],
            dominance=Dominance(dom["n"], dom["k"]) if dom else None,
            p_ratio=sdc.get("p_ratio"),
            min_dof=sdc["min_dof"],
            single_unit_stats=sdc["single_unit_stats"],
            rounding=Rounding(rnd["base"], rnd.get("method", "nearest")) if rnd else None,
            secondary=sup.get("secondary", True),
            redact_marker=sup.get("redact_marker"),
            markers=tuple(sup.get("markers", DEFAULT_MARKERS)) + tuple(
                [sup["redact_marker"]] if sup.get("redact_marker") else []),
            differencing=sdc.get("differencing", True),
            max_csv_rows=pack["egress"]["max_csv_rows"],
        )



def load_rules(pack: str | dict[str, Any] | SdcRules) -> SdcRules:
    """Rules from a pack name, a loaded pack dict, or rules already built."""
    if isinstance(pack, SdcRules):
        return pack
    if isinstance(pack, str):
        try:
            pack = policies.load("packs", pack)
        except policies.PolicyError as exc:
            raise UnknownPolicyError(str(exc)) from exc
    return SdcRules.from_pack(pack)
