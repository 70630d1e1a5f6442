"""Signed checkpoints: on demand, on the scheduler's tick, verified only with their key."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import Session

from spe.audit import Actor, merkle, record
from spe.audit import checkpoints as cps
from spe.audit.service import fetcher
from spe.audit.signer import create_checkpoint, maybe_checkpoint
from spe.crypto.signing import SigningKey
from spe.db.types import utcnow
from spe.errors import Conflict, NotFound


def add(engine, n: int) -> None:
    with Session(engine) as s:
        for _ in range(n):
            record(s, action="test.event", actor=Actor.system("tests"))
        s.commit()


def test_checkpoint_signs_the_current_root(engine, signer):
    with Session(engine) as s:
        with pytest.raises(Conflict):
            create_checkpoint(s, signer)
        with pytest.raises(NotFound):
            cps.latest(s)
    add(engine, 11)
    with Session(engine) as s:
        cp = create_checkpoint(s, signer)
        s.commit()
        assert cp.tree_size == 11
        assert cp.root_hash == merkle.subtree_root(11, fetcher(s))
        assert cps.latest(s) == cp == cps.at_size(s, 11)
        assert create_checkpoint(s, signer) == cp  # the log did not grow
    cps.verify_checkpoint(cp, signer.public_key)


def test_a_checkpoint_from_another_key_or_altered_is_refused(sqlite_engine, signer, tmp_path):
    add(sqlite_engine, 3)
    with Session(sqlite_engine) as s:
        cp = create_checkpoint(s, signer)
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    with pytest.raises(cps.CheckpointError, match="not the trusted key"):
        cps.verify_checkpoint(cp, other.public_key)
    forged = replace(cp, signature=other.sign(cp.message()))  # claims the trusted key
    with pytest.raises(cps.CheckpointError, match="does not verify"):
        cps.verify_checkpoint(forged, signer.public_key)
    with pytest.raises(cps.CheckpointError, match="does not verify"):
        cps.verify_checkpoint(replace(cp, tree_size=2), signer.public_key)


def test_maybe_checkpoint_waits_for_growth_and_the_interval(sqlite_engine, signer):
    interval = timedelta(minutes=5)
    with Session(sqlite_engine) as s:
        assert maybe_checkpoint(s, signer, interval) is None  # empty log
    add(sqlite_engine, 2)
    with Session(sqlite_engine) as s:
        assert maybe_checkpoint(s, signer, interval).tree_size == 2
        s.commit()
        assert maybe_checkpoint(s, signer, interval) is None  # no growth
    add(sqlite_engine, 1)
    with Session(sqlite_engine) as s:
        assert maybe_checkpoint(s, signer, interval) is None  # too soon
        later = utcnow() + interval
        assert maybe_checkpoint(s, signer, interval, now=later).tree_size == 3
