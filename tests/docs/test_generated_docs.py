"""Docs generated from code stay equal to the code."""

from pathlib import Path

from spe.domain.permit_lifecycle import state_diagram

DOCS = Path(__file__).parents[2] / "docs"


def test_permit_state_diagram_matches_the_transition_table():
    assert state_diagram() in (DOCS / "permits.md").read_text(encoding="utf-8")

