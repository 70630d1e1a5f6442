"""Verifying the database in chunks: aligned power-of-two ranges of leaves, each checked
(leaves, bodies, every stored subtree hash inside it) on its own connection, in worker
processes for a large log.

RFC 9162 subtrees combine exactly, so a chunk returns its subtree root and the partial
roots at the checkpoints inside it, and :func:`spe.audit.verify.verify_database` folds them
in order. Inside a chunk, leaves are hashed a block (``2**block_level``) at a time: each
level of a block is one list comprehension and one range query against the stored hashes.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import closing
from functools import partial

from spe.audit import merkle, native
from spe.audit.checks import ChunkResult, Problem, Report, bad_node, check_rows
from spe.audit.scan import Reader, Source

BLOCK_LEVEL = 14  # leaves are hashed and their subtrees compared 16,384 at a time
CHUNKS_PER_WORKER = 4
MAX_CHUNK_LEVEL = 20  # the compiled verifier holds a chunk's hashes: 64 MiB at most


def verify_chunk(source: Source, start: int, end: int, sizes: Sequence[int], cutoff: bytes,
                 block_level: int = BLOCK_LEVEL) -> ChunkResult:
    """Verify leaves ``[start, end)`` (``start`` a multiple of the block) and the stored
    subtree hashes inside them; in a worker process, or in-process for a small log."""
    block = 1 << block_level
    report = Report(start=start, size=start)
    frontier: list[bytes] = []
    above: list[tuple[int, int, bytes]] = []
    at: dict[int, list[bytes]] = {}
    wanted = deque(s for s in sorted(sizes) if start < s <= end)
    problems: list[Problem] = []
    pos = start
    with closing(source.open()) as reader, source.batches(start, end, block) as batches:
        for rows in batches:
            past = (pos + len(rows) > end) and (end, "the database sent leaves past the "
                                                     "range asked for")
            hashes, problem = check_rows(rows[:end - pos], pos, cutoff, report)
            problem = problem or past or None
            tree = merkle.levels(hashes)
            problems += filter(None, [problem, _compare_block(reader, tree, pos)])
            while wanted and wanted[0] <= pos + len(hashes):
                size = wanted.popleft()
                at[size] = merkle.levels_frontier(tree, size - pos) + frontier
            if len(hashes) == block:
                frontier, created = merkle.append(frontier, pos - start, tree[-1][0],
                                                  block_level)
                above += [(lv, ix + (start >> lv), h) for lv, ix, h in created]
            else:
                frontier = merkle.levels_frontier(tree, len(hashes)) + frontier
            pos += len(hashes)
            if problems:
                break
        else:
            if pos < end:
                problems.append((pos, f"leaf is missing (the leaves stop before {end})"))
        problems += filter(None, [_compare_nodes(reader, above)])
    report.size = pos
    return ChunkResult(start, pos, frontier, at, report, min(problems, default=None))


def _compare_block(reader: Reader, tree: list[list[bytes]], pos: int) -> Problem | None:
    """Compare the stored subtree hashes over one block with the computed ones."""
    problems = []
    for level in range(1, len(tree)):
        lo = pos >> level
        expected = tree[level]
        stored = reader.nodes(level, lo, lo + len(expected))
        if [h for _, h in stored] != expected:  # the query asks for exactly these indexes
            found = dict(stored)
            bad = next(i for i, h in enumerate(expected, lo) if found.get(i) != h)
            problems.append(bad_node(level, bad))
    return min(problems, default=None)


def _compare_nodes(reader: Reader, created: list[tuple[int, int, bytes]]) -> Problem | None:
    by_level: dict[int, dict[int, bytes]] = defaultdict(dict)
    for level, index, h in created:
        by_level[level][index] = h
    problems = []
    for level, expected in by_level.items():
        stored = dict(reader.nodes(level, min(expected), max(expected) + 1))
        bad = [index for index, h in expected.items() if stored.get(index) != h]
        if bad:
            problems.append(bad_node(level, min(bad)))
    return min(problems, default=None)


def plan(size: int, workers: int, block_level: int) -> int:
    """The level of the chunks: about ``CHUNKS_PER_WORKER`` per worker, whole blocks."""
    per_chunk = max(1, size // (workers * CHUNKS_PER_WORKER))
    return max(block_level, min(MAX_CHUNK_LEVEL, (per_chunk - 1).bit_length()))


def run(source: Source, size: int, chunk_level: int, sizes: list[int], cutoff: bytes,
        workers: int, block_level: int, compiled: bool) -> Iterator[ChunkResult]:
    """The chunks' results in order, lazily: in-process for one worker, else from a pool.
    ``compiled``: by :func:`spe.audit.native.verify_chunk`, which releases the GIL, in
    threads; else by :func:`verify_chunk` in ``spawn``ed processes (nothing inherited).
    Either way each chunk opens its own connection."""
    check = native.verify_chunk if compiled else partial(verify_chunk, block_level=block_level)
    starts = range(0, size, 1 << chunk_level)
    ends = [min(size, s + (1 << chunk_level)) for s in starts]
    if workers == 1 or len(starts) == 1:
        for start, end in zip(starts, ends, strict=True):
            yield check(source, start, end, sizes, cutoff)
        return
    pool = ThreadPoolExecutor(workers) if compiled else \
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(check, source, start, end, sizes, cutoff)
                   for start, end in zip(starts, ends, strict=True)]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
