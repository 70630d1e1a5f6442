"""SDC rules as pure functions over arrays of cell evidence, and the pack parameters they take."""

from egress.sdc.params import Dominance, Rounding, SdcRules, load_rules
from egress.sdc.rules import (
    dof_too_low,
    nk_dominated,
    not_rounded,
    p_percent_disclosive,
    secondary_margins,
    single_unit_cells,
    threshold_cells,
    zero_cells,
)

__all__ = [
    "Dominance",
    "Rounding",
    "SdcRules",
    "dof_too_low",
    "load_rules",
    "nk_dominated",
    "not_rounded",
    "p_percent_disclosive",
    "secondary_margins",
    "single_unit_cells",
    "threshold_cells",
    "zero_cells",
]
