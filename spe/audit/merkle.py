"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs, as pure functions.

Leaves and interior nodes are hashed with distinct one-byte prefixes so a leaf can never be
passed off as a node (second-preimage resistance). Storage is passed in: proof generation
asks a ``fetch`` callable for the hashes of *complete* subtrees, named by ``(level, index)``
where level 0 holds the leaf hashes and node ``(l, i)`` covers leaves ``[i*2^l, (i+1)*2^l)``.
Every proof needs O(log n) such hashes, fetched in one call.

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]  # (level, index)
Fetch = Callable[[list[NodeId]], dict[NodeId, bytes]]


class MerkleError(ValueError):
    """Base of every Merkle tree error."""


class InvalidRange(MerkleError):
    """An index or tree size outside the tree (e.g. a leaf beyond the size)."""


class InvalidProof(MerkleError):
    """A proof that does not verify: wrong length, or the computed root differs."""


class MissingNode(MerkleError):
    """The node store could not supply a complete subtree hash a proof needs."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a whole list of leaf hashes."""
    frontier: list[bytes] = []
    for size, h in enumerate(leaf_hashes):
        frontier, _ = append(frontier, size, h)
    return frontier_root(frontier)


def append(frontier: list[bytes], size: int, subtree: bytes, level: int = 0
           ) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add a complete subtree of ``2**level`` leaves (level 0: one leaf hash) to a tree of
    ``size`` leaves described by its ``frontier``; ``size`` must be a multiple of its width.

    The frontier holds the hashes of the complete subtrees on the right edge, one per set bit
    of ``size``, lowest level first. Returns the new frontier and the complete subtrees the
    addition completes, as ``(level, index, hash)`` above ``level``.
    """
    if len(frontier) != size.bit_count() or size & ((1 << level) - 1):
        raise InvalidRange(f"a frontier of {len(frontier)} hashes cannot describe size {size} "
                           f"and take a subtree of level {level}")
    h, index, used, created = subtree, size >> level, 0, []
    while (size >> level) & 1:
        h = node_hash(frontier[used], h)
        used += 1
        level += 1
        index >>= 1
        created.append((level, index, h))
    return [h, *frontier[used:]], created


def levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree hash over ``leaves`` (a run starting at a multiple of the next
    power of two above its length): ``result[l][i]`` covers leaves ``[i*2^l, (i+1)*2^l)``."""
    result = [leaves]
    below = leaves
    while len(below) > 1:
        prefix = NODE_PREFIX
        below = [hashlib.sha256(prefix + left + right).digest()
                 for left, right in zip(below[::2], below[1::2], strict=False)]
        result.append(below)
    return result


def levels_frontier(tree: list[list[bytes]], size: int) -> list[bytes]:
    """The frontier (lowest first) of the first ``size`` leaves, from :func:`levels`."""
    return [tree[level][(size >> level) - 1] for level in range(size.bit_length())
            if size >> level & 1]


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    h = frontier[0]
    for left in frontier[1:]:
        h = node_hash(left, h)
    return h


def frontier_ids(size: int) -> list[NodeId]:
    """The complete subtrees making up the frontier of a tree of ``size``, lowest first."""
    return list(reversed(_decompose(0, size)))


def _decompose(lo: int, hi: int) -> list[NodeId]:
    """The complete subtrees covering leaves ``[lo, hi)``, left to right, in the shape
    RFC 9162 splits them (largest power of two first). ``lo`` must be aligned to it."""
    ids = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        ids.append((level, lo >> level))
        lo += 1 << level
    return ids


def _fold(hashes: Sequence[bytes]) -> bytes:
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_path(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(m, D[lo:hi]) as the leaf ranges whose subtree hashes form it."""
    path = []
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    return list(reversed(path))


def _consistency_path(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 9162 SUBPROOF(m, D[lo:hi], true) as leaf ranges."""
    path: list[tuple[int, int]] = []
    complete = True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append((lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    return list(reversed(path))


def _resolve(ranges: list[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    parts = [_decompose(lo, hi) for lo, hi in ranges]
    wanted = sorted({node for part in parts for node in part})
    found = fetch(wanted) if wanted else {}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise MissingNode(f"node store lacks subtree hashes {missing[:3]}")
    return [_fold([found[node] for node in part]) for part in parts]


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """The audit path proving leaf ``index`` is in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise InvalidRange(f"leaf {index} is not in a tree of size {size}")
    return _resolve(_inclusion_path(index, 0, size), fetch)


def consistency_proof(old_size: int, new_size: int, fetch: Fetch) -> list[bytes]:
    """The proof that the tree of ``old_size`` is a prefix of the tree of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise InvalidRange(f"cannot prove size {old_size} consistent with size {new_size}")
    if old_size in (0, new_size):
        return []
    return _resolve(_consistency_path(old_size, 0, new_size), fetch)


def subtree_root(size: int, fetch: Fetch) -> bytes:
    """The root of the tree of ``size`` leaves, from its complete subtrees."""
    if size == 0:
        return EMPTY_ROOT
    return _resolve([(0, size)], fetch)[0]


def root_from_inclusion_proof(index: int, size: int, leaf: bytes,
                              proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, steps 1-5: the root implied by a leaf hash and its audit path."""
    if not 0 <= index < size:
        raise InvalidRange(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("inclusion proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("inclusion proof is shorter than the path")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    """Raise :class:`InvalidProof` unless ``proof`` shows ``leaf`` at ``index`` under root."""
    if root_from_inclusion_proof(index, size, leaf, proof) != expected_root:
        raise InvalidProof(f"inclusion proof for leaf {index} does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`InvalidProof` unless the two roots are consistent."""
    if not 0 <= old_size <= new_size:
        raise InvalidRange(f"size {old_size} cannot precede size {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise InvalidProof("equal sizes but different roots")
        return
    if old_size == 0:
        if proof:
            raise InvalidProof("a proof from the empty tree must be empty")
        return
    if not proof:
        raise InvalidProof("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 1: a power of two, prepend the old root
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 3
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is longer than the path")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof is shorter than the path")
    if fr != old_root:
        raise InvalidProof(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise InvalidProof(f"consistency proof does not lead to the new root (size {new_size})")
