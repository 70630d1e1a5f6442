"""The Merkle module against the RFC 6962 known answers published by transparency-dev/merkle
(testonly/constants.go and reference_test.go) and against a naive reference written
straight from the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spe.audit import merkle

LEAF_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
H = bytes.fromhex
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


# --- a deliberately naive reference: the RFC's recursive definitions, nothing clever ---

def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


class Store:
    """Every complete subtree hash of a list of leaves, built by appending one at a time."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[merkle.NodeId, bytes] = {}
        self.frontier: list[bytes] = []
        for i, data in enumerate(leaves):
            h = merkle.leaf_hash(data)
            self.nodes[(0, i)] = h
            self.frontier, created = merkle.append(self.frontier, i, h)
            self.nodes.update({(lv, ix): x for lv, ix, x in created})
        self.fetches = 0

    def fetch(self, ids: list[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        self.fetches += 1
        return {i: self.nodes[i] for i in ids if i in self.nodes}


def test_known_roots():
    for size, want in enumerate(ROOTS):
        store = Store(LEAF_INPUTS[:size])
        assert merkle.frontier_root(store.frontier) == want
        assert merkle.subtree_root(size, store.fetch) == want
        assert merkle.root([merkle.leaf_hash(x) for x in LEAF_INPUTS[:size]]) == want


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_known_inclusion_proofs(index, size, proof):
    store = Store(LEAF_INPUTS)
    got = merkle.inclusion_proof(index, size, store.fetch)
    assert got == [H(p) for p in proof]
    assert store.fetches <= 1
    merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAF_INPUTS[index]), got, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_known_consistency_proofs(old, new, proof):
    store = Store(LEAF_INPUTS)
    got = merkle.consistency_proof(old, new, store.fetch)
    assert got == [H(p) for p in proof]
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], got)


def test_known_proofs_refuse_a_flipped_bit():
    index, size, proof = INCLUSION[4]
    bad = [H(p) for p in proof]
    bad[1] = bytes([bad[1][0] ^ 1]) + bad[1][1:]
    with pytest.raises(merkle.InvalidProof):
        merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAF_INPUTS[index]), bad,
                                ROOTS[size])
    old, new, proof = CONSISTENCY[3]
    with pytest.raises(merkle.InvalidProof, match="old root"):
        merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new], [H(p) for p in proof])


def test_bad_ranges_are_typed_errors():
    store = Store(LEAF_INPUTS)
    with pytest.raises(merkle.InvalidRange):
        merkle.inclusion_proof(8, 8, store.fetch)
    with pytest.raises(merkle.InvalidRange):
        merkle.consistency_proof(5, 3, store.fetch)
    with pytest.raises(merkle.MissingNode):
        merkle.inclusion_proof(0, 8, lambda ids: {})
    with pytest.raises(merkle.InvalidRange):
        merkle.append([], 1, ROOTS[0])
    with pytest.raises(merkle.InvalidProof, match="longer"):
        merkle.root_from_inclusion_proof(0, 1, ROOTS[1], [ROOTS[1]])
    with pytest.raises(merkle.InvalidProof, match="empty"):
        merkle.verify_consistency(3, 5, ROOTS[3], ROOTS[5], [])


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


@given(leaf_lists, st.data())
def test_inclusion_matches_reference(leaves, data):
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    store = Store(leaves)
    proof = merkle.inclusion_proof(index, size, store.fetch)
    assert proof == ref_path(index, leaves[:size])
    assert store.fetches == (1 if proof else 0)
    expected = ref_mth(leaves[:size])
    assert merkle.subtree_root(size, store.fetch) == expected
    merkle.verify_inclusion(index, size, merkle.leaf_hash(leaves[index]), proof, expected)
    if size > 1:
        with pytest.raises(merkle.InvalidProof):
            merkle.verify_inclusion((index + 1) % size, size, merkle.leaf_hash(leaves[index]),
                                    proof, expected)


@given(leaf_lists, st.data())
def test_consistency_matches_reference(leaves, data):
    new = data.draw(st.integers(1, len(leaves)))
    old = data.draw(st.integers(1, new))
    store = Store(leaves)
    proof = merkle.consistency_proof(old, new, store.fetch)
    assert proof == (ref_subproof(old, leaves[:new], True) if old < new else [])
    old_root, new_root = ref_mth(leaves[:old]), ref_mth(leaves[:new])
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        with pytest.raises(merkle.InvalidProof):
            merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
        tampered = [*proof[:-1], hashlib.sha256(proof[-1]).digest()]
        with pytest.raises(merkle.InvalidProof):
            merkle.verify_consistency(old, new, old_root, new_root, tampered)


@given(leaf_lists)
def test_frontier_ids_name_the_frontier(leaves):
    store = Store(leaves)
    assert [store.nodes[i] for i in merkle.frontier_ids(len(leaves))] == store.frontier


@given(leaf_lists, st.data())
def test_subtrees_append_and_levels_match_the_reference(leaves, data):
    """A tree built from aligned blocks, and every level of a block, agree with the RFC."""
    hashes = [merkle.leaf_hash(x) for x in leaves]
    level = data.draw(st.integers(0, 3))
    width = 1 << level
    frontier: list[bytes] = []
    whole = len(hashes) // width * width
    for start in range(0, whole, width):
        tree = merkle.levels(hashes[start:start + width])
        assert tree[-1] == [ref_mth(leaves[start:start + width])]
        frontier, _ = merkle.append(frontier, start, tree[-1][0], level)
    tail = merkle.levels(hashes[whole:]) if whole < len(hashes) else [[]]
    frontier = merkle.levels_frontier(tail, len(hashes) - whole) + frontier
    assert merkle.frontier_root(frontier) == ref_mth(leaves)
    size = data.draw(st.integers(1, len(hashes)))
    tree = merkle.levels(hashes)
    assert merkle.frontier_root(merkle.levels_frontier(tree, size)) == ref_mth(leaves[:size])


def test_a_subtree_must_be_aligned():
    with pytest.raises(merkle.InvalidRange, match="level 2"):
        merkle.append([ROOTS[1]], 1, ROOTS[4], level=2)
