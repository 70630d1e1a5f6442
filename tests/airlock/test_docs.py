"""docs/egress.md shows the state diagram generated from the transition table."""

from pathlib import Path

from spe.airlock.review import TRANSITIONS, state_diagram

DOC = Path(__file__).parents[2] / "docs" / "egress.md"


def test_the_documented_diagram_is_the_transition_table():
    text = DOC.read_text(encoding="utf-8")
    assert f"```mermaid\n{state_diagram()}```" in text


def test_the_diagram_has_every_transition():
    diagram = state_diagram()
    for t in TRANSITIONS.values():
        for source in t.sources:
            assert f"{source.value} --> {t.target.value}: {t.name}" in diagram
