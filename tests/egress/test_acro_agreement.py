"""spe's engine flags the same cells as ACRO 1.0.2 for the rules both implement, with the
same parameters (the ``acro-default`` pack), on random data."""

import logging

import numpy as np
import pandas as pd
import pytest
from acro import ACRO

from egress import tables

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

ACRO_NAMES = {"MinimumThresholdCheck": {"threshold", "zeros"}, "PresenceOfZeroCheck": {"zeros"},
              "NKCheck": {"nk-dominance"}, "PPercentCheck": {"p-percent"}}


@pytest.fixture
def acro(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ACRO writes its artefacts in the working directory
    logging.getLogger("acro").setLevel(logging.WARNING)
    return ACRO(suppress=False)


def random_frame(seed: int, n: int = 400) -> pd.DataFrame:
    """Skewed categories (small and empty cells) and heavy-tailed values (dominance)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.choice(list("abcde"), n, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
        "b": rng.choice(list("xyzw"), n, p=[0.5, 0.3, 0.15, 0.05]),
        "v": rng.lognormal(0.0, rng.uniform(0.5, 2.5), n),
    })


def acro_flags(acro: ACRO) -> dict[str, set]:
    """ACRO's flagged cells of its last output, by ACRO check name."""
    record = list(acro.results.results.values())[-1]
    flags: dict[str, set] = {name: set() for name in ACRO_NAMES}
    for col in record.outcome.columns:
        for row, text in record.outcome[col].items():
            for name in ACRO_NAMES:
                if name in text:
                    flags[name].add((str(row), str(col)))
    return flags


def spe_flags(res) -> dict[str, set]:
    flags: dict[str, set] = {}
    for f in res.check("acro-default")["flags"]:
        flags.setdefault(f["rule"], set()).add((f["row"][0], f["column"][0]))
    return flags


def as_acro(spe: dict[str, set], acro_name: str) -> set:
    return set().union(*(spe.get(rule, set()) for rule in ACRO_NAMES[acro_name]))


@pytest.mark.parametrize("seed", range(6))
def test_count_tables_agree(acro, seed):
    df = random_frame(seed)
    theirs_table = acro.crosstab(df.a, df.b)
    ours = tables.crosstab(df, "a", "b")
    pd.testing.assert_frame_equal(ours.table, theirs_table, check_dtype=False)
    theirs, mine = acro_flags(acro), spe_flags(ours)
    assert theirs["MinimumThresholdCheck"], "the data should produce small cells"
    for name in ("MinimumThresholdCheck", "PresenceOfZeroCheck"):
        assert as_acro(mine, name) == theirs[name], name


@pytest.mark.parametrize("seed", range(6))
def test_mean_tables_agree(acro, seed):
    df = random_frame(seed)
    theirs_table = acro.crosstab(df.a, df.b, values=df.v, aggfunc="mean")
    ours = tables.crosstab(df, "a", "b", values="v", aggfunc="mean")
    pd.testing.assert_frame_equal(ours.table, theirs_table, check_dtype=False)
    theirs, mine = acro_flags(acro), spe_flags(ours)
    for name in ("MinimumThresholdCheck", "NKCheck", "PPercentCheck"):
        assert as_acro(mine, name) == theirs[name], name


def test_the_random_data_exercise_dominance(acro):
    """Guard against vacuous agreement: some seeds flag dominance and p%, some do not."""
    flagged = [spe_flags(tables.crosstab(random_frame(s), "a", "b", values="v",
                                         aggfunc="mean")) for s in range(6)]
    assert any("nk-dominance" in f for f in flagged)
    assert any("p-percent" in f for f in flagged)
    assert any(f.get("nk-dominance", set()) != f.get("threshold", set()) for f in flagged)
