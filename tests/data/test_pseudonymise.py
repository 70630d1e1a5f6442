"""Pseudonyms: HMAC-SHA-256 under a per-permit HKDF key, cross-checked with a naive reference."""

from __future__ import annotations

import base64
import hmac
import re

import pandas as pd
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from spe.data.pseudonymise import METHOD, Pseudonymiser, permit_key

SECRET = bytes(range(32))


def reference(value: str, permit: str, secret: bytes = SECRET) -> str:
    """The method as written in its specification, one value at a time."""
    key = HKDF(hashes.SHA256(), 32, salt=b"spe-pseudonym-v1", info=permit.encode()).derive(secret)
    digest = hmac.digest(key, value.encode("utf-8"), "sha256")
    return base64.b32encode(digest).decode("ascii").lower()[:26]


def test_the_method_is_named_and_versioned():
    assert METHOD == "hmac-sha256-hkdf/v1"
    assert Pseudonymiser(SECRET, "P").method == METHOD


def test_a_pseudonym_is_26_lowercase_base32_characters():
    assert re.fullmatch(r"[a-z2-7]{26}", Pseudonymiser(SECRET, "P").pseudonym("184017512345678"))


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=60),
       cache_limit=st.integers(1, 20))
def test_the_vectorised_path_matches_the_reference_across_batches(values, cache_limit):
    pseudonymiser = Pseudonymiser(SECRET, "PERMIT-1", cache_limit=cache_limit)
    half = len(values) // 2
    for batch in (values[:half], values[half:], values):  # the cache is used and evicted
        got = pseudonymiser.array(pa.array(batch, pa.string())).to_pylist()
        assert got == [None if v is None else reference(v, "PERMIT-1") for v in batch]


def test_same_value_same_pseudonym_within_a_permit():
    first = Pseudonymiser(SECRET, "PERMIT-1")
    second = Pseudonymiser(SECRET, "PERMIT-1")  # another dataset, another run
    assert first.pseudonym("184017512345678") == second.pseudonym("184017512345678")


def test_permits_are_unlinkable():
    values = [f"1840175{i:08d}" for i in range(2_000)]
    one = set(Pseudonymiser(SECRET, "PERMIT-1").array(pa.array(values)).to_pylist())
    two = set(Pseudonymiser(SECRET, "PERMIT-2").array(pa.array(values)).to_pylist())
    assert len(one) == len(two) == 2_000
    assert not one & two


def test_another_master_secret_gives_other_pseudonyms():
    assert (Pseudonymiser(SECRET, "P").pseudonym("x")
            != Pseudonymiser(b"\xff" * 32, "P").pseudonym("x"))


def test_an_identifier_stored_as_integer_or_text_links():
    pseudonymiser = Pseudonymiser(SECRET, "P")
    as_int = pseudonymiser.array(pa.array([184017512345678, None], pa.int64())).to_pylist()
    assert as_int == [reference("184017512345678", "P"), None]


def test_chunked_arrays_and_pandas_series():
    pseudonymiser = Pseudonymiser(SECRET, "P")
    chunked = pa.chunked_array([["a", "b"], ["a"]])
    assert pseudonymiser.array(chunked).to_pylist() == [reference(v, "P") for v in "aba"]
    series = pd.Series(["a", None, "b"], index=[10, 11, 12], name="nir")
    result = pseudonymiser.series(series)
    assert result.tolist() == [reference("a", "P"), None, reference("b", "P")]
    assert list(result.index) == [10, 11, 12] and result.name == "nir"


def test_dictionary_arrays_are_used_as_they_come():
    column = pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1]), pa.array([7, 8]))
    for as_dictionary in (False, True):
        assert Pseudonymiser(SECRET, "P").array(column, as_dictionary).to_pylist() == [
            reference("8", "P"), reference("7", "P"), None, reference("8", "P")]


def test_an_all_null_column_stays_null():
    assert Pseudonymiser(SECRET, "P").array(pa.nulls(3, pa.string())).to_pylist() == [None] * 3


@pytest.mark.parametrize(("secret", "permit", "message"), [
    (b"short", "P", "at least 32"), ("text" * 10, "P", "at least 32"), (SECRET, "", "permit"),
])
def test_weak_secrets_and_missing_permits_are_refused(secret, permit, message):
    with pytest.raises(ValueError, match=message):
        permit_key(secret, permit)


@settings(max_examples=50, deadline=None)
@given(batches=st.lists(st.lists(st.one_of(st.none(), st.sampled_from("abcdefgh")), max_size=30),
                        max_size=6),
       cache_limit=st.integers(1, 10))
def test_dictionary_output_holds_exactly_the_pseudonyms_of_its_batch(batches, cache_limit):
    pseudonymiser = Pseudonymiser(SECRET, "PERMIT-1", cache_limit=cache_limit)
    for batch in batches:
        encoded = pseudonymiser.array(pa.array(batch, pa.string()), as_dictionary=True)
        assert encoded.to_pylist() == [None if v is None else reference(v, "PERMIT-1")
                                       for v in batch]
        used = {reference(v, "PERMIT-1") for v in batch if v is not None}
        assert sorted(encoded.dictionary.to_pylist()) == sorted(used)  # no extra, no repeat


def test_the_cache_across_batches_gives_what_a_fresh_pseudonymiser_gives():
    rows = [f"1840175{i % 700:08d}" for i in range(5_000)]
    batches = [pa.array(rows[start:start + 900]) for start in range(0, len(rows), 900)]
    cached = Pseudonymiser(SECRET, "P")
    for batch in batches:
        for as_dictionary in (True, False):
            assert (cached.array(batch, as_dictionary).to_pylist()
                    == Pseudonymiser(SECRET, "P").array(batch, as_dictionary).to_pylist())
    assert cached.cached == 700  # each distinct value hashed once, remembered


def test_the_cache_starts_over_from_the_batch_past_its_limit():
    pseudonymiser = Pseudonymiser(SECRET, "P", cache_limit=100)
    pseudonymiser.array(pa.array([str(i) for i in range(80)]))
    assert pseudonymiser.cached == 80
    pseudonymiser.array(pa.array([str(i) for i in range(70, 120)]), as_dictionary=True)
    assert pseudonymiser.cached == 50  # 130 > 100: only this batch's values are kept
    assert pseudonymiser.array(pa.array(["75", "5"])).to_pylist() == [
        reference("75", "P"), reference("5", "P")]


def check_batches(batches, cache_limit: int = 2_000_000) -> None:
    pseudonymiser = Pseudonymiser(SECRET, "PERMIT-1", cache_limit=cache_limit)
    for batch in batches:
        for as_dictionary in (True, False):
            got = pseudonymiser.array(pa.array(batch, pa.string()), as_dictionary).to_pylist()
            assert got == [None if v is None else reference(v, "PERMIT-1") for v in batch]


def test_decimal_identifiers_of_other_widths_are_other_values():
    check_batches([["12", "34", None], ["012", "034"], ["12", "0012", "012"], ["9" * 19],
                   ["1" * 20, "12"]])


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.one_of(
           st.lists(st.one_of(st.none(), st.sampled_from(["1", "01", "001", "2A"])), max_size=8),
           st.lists(st.text("0123456789", min_size=2, max_size=2), max_size=8)), max_size=6),
       cache_limit=st.integers(1, 10))
def test_decimal_identifiers_get_the_pseudonyms_of_their_text(batches, cache_limit):
    """Values of decimal digits are looked up by their integer while all have one width:
    '012' and '12' must stay two values, and a '2A' sends the lookup back to text."""
    check_batches(batches, cache_limit)


def test_identifiers_of_one_width_are_looked_up_as_integers_until_one_is_not(monkeypatch):
    from spe.data import pseudonymise

    looked_up_as_text = []
    index_in = pseudonymise.pc.index_in
    monkeypatch.setattr(pseudonymise.pc, "index_in",
                        lambda *a, **k: looked_up_as_text.append(1) or index_in(*a, **k))
    pseudonymiser = Pseudonymiser(SECRET, "P")
    nirs = [f"1{i % 500:014d}" for i in range(2_000)]
    for start in range(0, 2_000, 700):
        batch = [*nirs[start:start + 700], None]
        assert pseudonymiser.array(pa.array(batch), as_dictionary=True).to_pylist() == \
            [None if v is None else reference(v, "P") for v in batch]
    assert pseudonymiser.cached == 500 and not looked_up_as_text
    corsican = ["2A0175123456789", nirs[3], nirs[4]]
    assert pseudonymiser.array(pa.array(corsican)).to_pylist() == \
        [reference(v, "P") for v in corsican]
    assert looked_up_as_text  # the known values are no longer all decimal: as text
    pseudonymiser.array(pa.array(nirs[:10]))
    assert len(looked_up_as_text) == 2


def test_identifiers_given_as_integers_get_the_pseudonyms_of_their_text():
    """As the shuffle hands a NIR over: its integer and its width (spe.data.decimal)."""
    from spe.data import decimal

    pseudonymiser = Pseudonymiser(SECRET, "P")
    nirs = [None if i % 13 == 0 else f"0{i % 300:014d}" for i in range(1_000)]
    for start in range(0, 1_000, 400):
        batch = nirs[start:start + 400]
        integers = decimal.integers(pa.array(batch))
        for as_dictionary in (True, False):
            assert pseudonymiser.array(integers, as_dictionary, digits=15).to_pylist() == \
                [None if v is None else reference(v, "P") for v in batch]
        assert pseudonymiser.array(pa.array(batch)).to_pylist() == \
            [None if v is None else reference(v, "P") for v in batch]  # the same as text
    assert pseudonymiser.cached == 300
    # integers of another width than the known values': looked up as their text
    assert pseudonymiser.array(pa.array([12, 7], pa.uint64()), digits=2).to_pylist() == \
        [reference("12", "P"), reference("07", "P")]
    assert pseudonymiser.array(pa.array([5], pa.uint64()), digits=15).to_pylist() == \
        [reference("000000000000005", "P")]
