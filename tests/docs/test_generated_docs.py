"""Docs generated from code stay equal to the code."""

from pathlib import Path

from spe.cli.reference import reference_markdown
from spe.domain.permit_lifecycle import state_diagram

DOCS = Path(__file__).parents[2] / "docs"


def test_permit_state_diagram_matches_the_transition_table():
    assert state_diagram() in (DOCS / "permits.md").read_text(encoding="utf-8")



def test_configuration_reference_matches_the_settings():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert reference_markdown() in text, "regenerate docs/configuration.md: spe config reference"


def test_each_setting_is_listed_once():
    rows = [line.split("|")[1].strip() for line in reference_markdown().splitlines()
            if line.startswith("| `SPE_")]
    assert len(rows) == len(set(rows))
