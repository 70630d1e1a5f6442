"""The compiled verifier (``spe/audit/_native.c``), when the build could make it.

It verifies one chunk as :func:`spe.audit.chunks.verify_chunk` does, with the same checks,
the same problems and the same messages, but reads the leaves itself (libsqlite3, or libpq
with ``COPY … (FORMAT binary)``) and hashes with OpenSSL, without a Python object per value:
several times faster (docs/benchmarks/audit.md). The Python verifier stays the reference,
verifies exports, and runs where no C compiler was available at install time; the tests run
every tamper case through both.
"""

from __future__ import annotations

from collections.abc import Sequence

from spe.audit.checks import ChunkResult, Report
from spe.audit.scan import Source, UnsupportedDatabase, native_queries

try:
    from spe.audit import _native
except ImportError:  # built without a compiler or the headers: the Python verifier serves
    _native = None


def available() -> bool:
    return _native is not None


def verify_chunk(source: Source, start: int, end: int, sizes: Sequence[int],
                 cutoff: bytes) -> ChunkResult:
    """Verify leaves ``[start, end)`` (``start`` a multiple of the chunk's width) and the
    stored subtree hashes inside them."""
    if _native is None:
        raise RuntimeError("the compiled audit verifier was not built")
    leaves, nodes = native_queries(source.dialect, start, end)
    try:
        size, frontier, at, bodies, gaps, problem = _native.verify_chunk(
            source.dialect, source.target, leaves, nodes, start, end, list(sizes), cutoff)
    except ValueError as exc:
        raise UnsupportedDatabase(str(exc)) from exc
    report = Report(start=start, size=size, bodies=bodies)
    for first, last in gaps:
        report.note_purged(first, last)
    return ChunkResult(start, size, frontier, at, report, problem)
