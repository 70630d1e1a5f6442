"""Leaf versions 2 and 3 both verify, and neither lets an export disguise a recent deletion
as a purge by moving bytes between a leaf's ``ts`` and its commitment (issue 20)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session

from spe.audit import encoding, layout
from spe.audit.export import export_lines
from spe.audit.verify import VerificationError, verify_database, verify_export
from spe.db.types import utcnow
from tests.audit.factories import build_log

CUTOFF = utcnow() - timedelta(days=366)


def test_the_compiled_verifier_shares_the_current_layout():
    """``_layout.h`` is generated from spe/audit/layout.py: run ``python -m
    spe.audit.layout`` after changing it."""
    assert layout.HEADER.read_text() == layout.c_header()
    assert len(encoding.BODY_FIELDS) - 1 == layout.VALUES


@pytest.mark.parametrize("version", encoding.VERSIONS)
def test_logs_of_either_version_verify_with_both_verifiers(sqlite_engine, signer, version):
    build_log(sqlite_engine, signer, 9, checkpoint_at=(4,), version=version)
    with Session(sqlite_engine) as s:
        for compiled in (True, False):
            report = verify_database(s, signer.public_key, CUTOFF, compiled=compiled)
            assert (report.size, report.bodies, report.checkpoints) == (9, 9, 2)
        assert verify_export(list(export_lines(s)), signer.public_key, CUTOFF).size == 9


def disguise(line: str, keep: int) -> str:
    """Delete the event's body; keep ``keep`` bytes of the leaf's time (a prefix sorting
    before any retention cutoff) and move the rest into the commitment: for a version-2
    leaf, the bytes hashed are the same."""
    event = json.loads(line)
    leaf = event["leaf"]
    moved = leaf["ts"][keep:].encode() + bytes.fromhex(leaf["body"])
    leaf["ts"], leaf["body"] = leaf["ts"][:keep], moved.hex()
    event["event"] = event["salt"] = None
    return json.dumps(event)


@pytest.mark.parametrize("version", encoding.VERSIONS)
def test_a_deletion_disguised_as_a_purge_is_tampering(sqlite_engine, signer, version):
    build_log(sqlite_engine, signer, 6, version=version)
    with Session(sqlite_engine) as s:
        lines = list(export_lines(s))
    original = json.loads(lines[3])["leaf"]
    lines[3] = disguise(lines[3], 2)  # event 2, of today: its ts becomes "20"
    forged = json.loads(lines[3])["leaf"]
    assert forged["ts"].encode() < encoding.format_ts(CUTOFF).encode()  # as if purged
    if version == layout.LEAF_V2:  # the bytes hashed, so the leaf hash, are unchanged
        assert (forged["ts"].encode() + bytes.fromhex(forged["body"])
                == original["ts"].encode() + bytes.fromhex(original["body"]))
    with pytest.raises(VerificationError, match="ts is not a 27-byte RFC 3339") as caught:
        verify_export(lines, signer.public_key, CUTOFF)
    assert caught.value.seq == 2
