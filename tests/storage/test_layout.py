"""The object key layout: every key built from checked components."""

from __future__ import annotations

import pytest

from spe.storage import layout
from spe.storage.layout import InvalidKeyComponent

SHA = "ab" * 32


def test_keys_follow_the_documented_layout():
    assert layout.source_key("snds-dcir", "2024.parquet") == "sources/snds-dcir/2024.parquet"
    assert layout.project_prefix("p-1a2b3c4d") == "projects/p-1a2b3c4d/"
    assert layout.extract_prefix("p-1", "e1") == "projects/p-1/extracts/e1/"
    assert layout.quarantine_key("p-1", SHA) == f"projects/p-1/quarantine/{SHA}"
    assert layout.release_prefix("p-1", "r_7") == "projects/p-1/releases/r_7/"


def test_everything_a_project_owns_is_under_its_prefix():
    prefix = layout.project_prefix("p-1")
    for key in (layout.extract_prefix("p-1", "e"), layout.quarantine_key("p-1", SHA),
                layout.release_prefix("p-1", "r")):
        assert key.startswith(prefix)
    assert not layout.project_prefix("p-10").startswith(prefix)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a..b", ".hidden", "-x", "é", "a b",
                                 "x" * 129, "a\x00", "a\n"])
def test_unsafe_components_are_refused(bad):
    with pytest.raises(InvalidKeyComponent, match="invalid dataset name"):
        layout.source_key(bad, "f.csv")
    with pytest.raises(InvalidKeyComponent, match="invalid file name"):
        layout.source_key("d", bad)
    with pytest.raises(InvalidKeyComponent, match="invalid project id"):
        layout.project_prefix(bad)


def test_non_strings_are_refused():
    with pytest.raises(InvalidKeyComponent):
        layout.extract_prefix("p-1", 7)


@pytest.mark.parametrize("bad", ["AB" * 32, "ab" * 31, "g" * 64, f"{SHA}/x", ""])
def test_quarantine_keys_need_a_lowercase_sha256(bad):
    with pytest.raises(InvalidKeyComponent, match="sha256"):
        layout.quarantine_key("p-1", bad)
