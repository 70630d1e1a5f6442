"""An audit trail that survives its operator (issue 13): what a database superuser can do
to the audit tables once the triggers are off (tests/audit/operator.py), and what catches
it: verification before every signature, a checkpoint an auditor kept, a witness holding
every checkpoint, and the age of leaves no checkpoint covers. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from spe.audit import Actor, draft
from spe.audit.log import append
from spe.audit.signer import create_checkpoint
from spe.audit.verify import VerificationError, verify_database
from spe.audit.witness import FolderWitness, WitnessError, document, witnessed
from spe.crypto.signing import SigningKey
from spe.db.types import utcnow
from spe.errors import Conflict
from tests.audit import operator
from tests.audit.factories import build_log

CUTOFF = utcnow() - timedelta(days=366)
VERIFIERS = [True, False]  # compiled, python


@pytest.fixture(params=["sqlite", "postgres"])
def db(request):
    """(the application's engine, the superuser's)."""
    if request.param == "sqlite":
        engine = request.getfixturevalue("sqlite_engine")
        return engine, engine
    audit = request.getfixturevalue("pg_audit")
    return audit.app, audit.admin


def grow(engine, n: int, at=None) -> None:
    with Session(engine) as s:
        append(s, [draft(action="more.event", actor=Actor.system("tests"))] * n, at=at)
        s.commit()


def checkpoint(engine, signer, witness=None):
    with Session(engine) as s:
        cp = create_checkpoint(s, signer, witness=witness)
        s.commit()
    return cp


def verify(engine, signer, compiled=True, **options):
    with Session(engine) as s:
        return verify_database(s, signer.public_key, CUTOFF, workers=1, compiled=compiled,
                               **options)


def test_nothing_is_signed_over_a_log_that_does_not_verify(db, signer):
    app, admin = db
    build_log(app, signer, 8)
    grow(app, 3)
    with operator.superuser(admin) as conn:
        conn.execute(text("UPDATE audit_event SET actor_id = 'nobody' WHERE seq = 9"))
    with pytest.raises(Conflict, match="seq 9: body does not match") as caught:
        checkpoint(app, signer)
    assert caught.value.code == "audit.log_broken"
    with Session(app) as s:
        assert s.execute(text("SELECT max(tree_size) FROM audit_checkpoint")).scalar() == 8


def test_a_head_cut_below_the_last_checkpoint_is_not_signed(db, signer):
    app, admin = db
    build_log(app, signer, 6)
    with operator.superuser(admin) as conn:
        conn.execute(text("DELETE FROM audit_leaf WHERE seq >= 4"))
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 4"))
        operator.rebuild_tree(conn)
    grow(app, 1)  # size 5, the signed checkpoint says 6
    with pytest.raises(Conflict, match="truncated"):
        checkpoint(app, signer)


@pytest.mark.parametrize("compiled", VERIFIERS)
def test_a_cut_tail_is_caught_by_a_kept_checkpoint_and_the_witness(db, signer, tmp_path,
                                                                   compiled):
    app, admin = db
    witness = FolderWitness(tmp_path / "witness")
    build_log(app, signer, 10)
    kept = checkpoint(app, signer, witness)  # the auditor keeps it (already in the log)
    grow(app, 5)
    fifteen = checkpoint(app, signer, witness)
    assert [cp.tree_size for cp in witnessed(witness, signer.public_key)] == [10, 15]
    operator.cut_tail(admin, 10)  # 5 events gone, head recomputed, checkpoint 15 deleted
    assert verify(app, signer, compiled).size == 10  # alone, the database looks fine
    with pytest.raises(VerificationError, match="trusted checkpoint covers 15: the log was "
                                                "truncated"):
        verify(app, signer, compiled, external=[(fifteen, "trusted")])
    with pytest.raises(VerificationError, match="witnessed checkpoint covers 15"):
        verify(app, signer, compiled,
               external=[(cp, "witnessed") for cp in witnessed(witness, signer.public_key)])
    assert verify(app, signer, compiled, external=[(kept, "trusted")]).external == 1
    grow(app, 2)  # the platform goes on: its next checkpoint is refused, not published
    with pytest.raises(Conflict, match="covers 15: the log was truncated"):
        checkpoint(app, signer, witness)
    grow(app, 4)  # now longer than the witnessed size, but not an extension of it
    with pytest.raises(Conflict, match="checkpoint at size 15 does not match"):
        checkpoint(app, signer, witness)
    assert [cp.tree_size for cp in witnessed(witness, signer.public_key)] == [10, 15]


@pytest.mark.parametrize("compiled", VERIFIERS)
def test_deleting_every_checkpoint_is_caught_by_their_age_and_the_witness(db, signer,
                                                                          tmp_path, compiled):
    app, admin = db
    witness = FolderWitness(tmp_path / "witness")
    build_log(app, signer, 7, at=utcnow() - timedelta(hours=2))
    checkpoint(app, signer, witness)  # build_log signed it at 7: now witnessed
    grow(app, 2)
    checkpoint(app, signer, witness)
    age = {"max_unsigned_age": timedelta(minutes=11)}
    assert verify(app, signer, compiled, **age).checkpoints == 2
    operator.delete_checkpoints(admin)
    assert verify(app, signer, compiled).checkpoints == 0  # alone, it says OK
    with pytest.raises(VerificationError, match=r"leaves 0\.\.6 are older than 0:11:00 but "
                                                "no signed checkpoint covers them"):
        verify(app, signer, compiled, **age)
    with pytest.raises(VerificationError, match="lacks the signed checkpoint at size 7 that "
                                                "the witnessed holds"):
        verify(app, signer, compiled,
               external=[(cp, "witnessed") for cp in witnessed(witness, signer.public_key)])


def test_a_young_log_needs_no_checkpoint_yet(db, signer):
    app, _ = db
    grow(app, 3)
    assert verify(app, signer, max_unsigned_age=timedelta(minutes=11)).size == 3


@pytest.mark.parametrize("compiled", VERIFIERS)
def test_a_consistent_rewrite_is_caught_by_the_kept_checkpoint(db, signer, compiled):
    app, admin = db
    build_log(app, signer, 12)
    with Session(app) as s:
        kept = create_checkpoint(s, signer)  # the existing one at 12
    operator.rewrite_event(admin, 5, "nothing.happened")
    report = verify(app, signer, compiled)  # leaves, bodies, nodes and head all agree
    assert (report.size, report.checkpoints) == (12, 0)
    with pytest.raises(VerificationError, match="not an extension of the trusted checkpoint "
                                                "at size 12") as caught:
        verify(app, signer, compiled, external=[(kept, "trusted")])
    assert caught.value.seq == 0


def test_the_head_message_names_a_rewritten_root(db, signer):
    app, admin = db
    build_log(app, signer, 5)
    with operator.superuser(admin) as conn:
        frontier = conn.execute(text("SELECT frontier FROM audit_head")).scalar()
        conn.execute(text("UPDATE audit_head SET frontier = :f"),
                     {"f": bytes(len(frontier))})
    with pytest.raises(VerificationError) as caught:
        verify(app, signer)
    assert "the head's root at size 5 is" in caught.value.problem
    assert "the head says size 5, the leaves make 5" not in caught.value.problem


def test_a_witness_refuses_overwrites_and_foreign_or_inconsistent_documents(
        sqlite_engine, signer, tmp_path):
    folder = tmp_path / "witness"
    witness = FolderWitness(folder)
    build_log(sqlite_engine, signer, 4)
    first = checkpoint(sqlite_engine, signer, witness)
    grow(sqlite_engine, 3)
    checkpoint(sqlite_engine, signer, witness)
    assert len(witnessed(witness, signer.public_key)) == 2
    name = "00000000000000000004.json"
    with pytest.raises(WitnessError, match="already holds another"):
        witness.put(name, b"{}")
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    with pytest.raises(WitnessError, match="not the trusted key"):
        witnessed(witness, other.public_key)
    forged = json.loads((folder / "00000000000000000007.json").read_text())
    forged["previous"]["proof"] = ["00" * 32]
    (folder / "00000000000000000007.json").chmod(0o644)
    (folder / "00000000000000000007.json").write_text(json.dumps(forged))
    with pytest.raises(WitnessError, match="not consistent with the witnessed checkpoint"):
        witnessed(witness, signer.public_key)
    assert document(first, None, []).startswith(b'{"checkpoint"')


def test_an_object_lock_bucket_witness_keeps_every_checkpoint(sqlite_engine, signer,
                                                             s3_server):
    """Ceph RGW with S3 Object Lock: each checkpoint is an object under COMPLIANCE
    retention, so neither a delete nor an overwrite takes it away, and verification reads
    every version of every object."""
    import io
    import uuid

    from minio import Minio
    from minio.error import S3Error

    from spe.audit.witness import S3Witness, name_of

    client = Minio(s3_server.endpoint, access_key=s3_server.access_key,
                   secret_key=s3_server.secret_key, region=s3_server.region,
                   secure=s3_server.secure)
    bucket = f"spe-witness-{uuid.uuid4().hex[:12]}"
    client.make_bucket(bucket, object_lock=True)
    witness = S3Witness(client, bucket, "audit/", timedelta(days=1))
    build_log(sqlite_engine, signer, 5)
    checkpoint(sqlite_engine, signer, witness)
    grow(sqlite_engine, 2)
    checkpoint(sqlite_engine, signer, witness)
    assert [cp.tree_size for cp in witnessed(witness, signer.public_key)] == [5, 7]
    key = "audit/" + name_of(7)
    version = next(o.version_id for o in client.list_objects(bucket, prefix=key,
                                                             include_version=True))
    with pytest.raises(S3Error):  # locked: not even the owner can delete it
        client.remove_object(bucket, key, version_id=version)
    with pytest.raises(WitnessError, match="already holds another"):
        witness.put(name_of(7), b"{}")
    operator.cut_tail(sqlite_engine, 5)
    grow(sqlite_engine, 1)
    with pytest.raises(Conflict, match="covers 7: the log was truncated"):
        checkpoint(sqlite_engine, signer, witness)
    client.put_object(bucket, key, io.BytesIO(b"{}"), 2)  # a second version, past the SDK
    with pytest.raises(WitnessError, match="was overwritten"):
        witnessed(witness, signer.public_key)


def test_an_unreachable_witness_is_caught_up_and_a_lost_commit_adopted(sqlite_engine, signer,
                                                                       tmp_path, caplog):
    """Checkpoints go on while the witness cannot be written (logged), and the next one
    writes every checkpoint it missed; one the witness holds but whose transaction never
    committed is adopted, so that verification does not take it for a deleted one."""
    from spe.audit.witness import WitnessUnavailable

    class Flaky(FolderWitness):
        down = False

        def put(self, name: str, data: bytes) -> None:
            if self.down:
                raise WitnessUnavailable("the share is not mounted")
            super().put(name, data)

    witness = Flaky(tmp_path / "witness")
    build_log(sqlite_engine, signer, 3)
    checkpoint(sqlite_engine, signer, witness)
    witness.down = True
    grow(sqlite_engine, 2)
    assert checkpoint(sqlite_engine, signer, witness).tree_size == 5
    assert "not witnessed yet: the share is not mounted" in caplog.text
    witness.down = False
    grow(sqlite_engine, 1)
    checkpoint(sqlite_engine, signer, witness)
    assert [cp.tree_size for cp in witnessed(witness, signer.public_key)] == [3, 5, 6]
    grow(sqlite_engine, 2)
    with Session(sqlite_engine) as s:  # witnessed, then rolled back
        create_checkpoint(s, signer, witness=witness)
        s.rollback()
    sizes = [cp.tree_size for cp in witnessed(witness, signer.public_key)]
    assert sizes == [3, 5, 6, 8]
    external = [(cp, "witnessed") for cp in witnessed(witness, signer.public_key)]
    with pytest.raises(VerificationError, match="lacks the signed checkpoint at size 8"):
        verify(sqlite_engine, signer, external=external)
    grow(sqlite_engine, 1)
    checkpoint(sqlite_engine, signer, witness)  # adopts 8, signs 9
    assert verify(sqlite_engine, signer, external=external).checkpoints == 5


def test_an_independent_cosigner_vouches_only_for_extensions(sqlite_engine, signer, tmp_path):
    """C2SP-style: the cosigner keeps the latest checkpoint it vouched for; a witness folder
    rewritten after a cut (or a forked log) is refused, and its cosignatures make the cut
    detectable like a kept checkpoint."""
    from spe.audit.cosign import cosign, read

    folder, state = tmp_path / "witness", tmp_path / "cosigner"
    witness, key = FolderWitness(folder), SigningKey.load_or_create(tmp_path / "cosigner.pem")
    build_log(sqlite_engine, signer, 4)
    checkpoint(sqlite_engine, signer, witness)
    assert [c.checkpoint.tree_size for c in cosign(witness, state, signer.public_key, key)] \
        == [4]
    grow(sqlite_engine, 3)
    checkpoint(sqlite_engine, signer, witness)
    assert len(cosign(witness, state, signer.public_key, key)) == 1
    assert cosign(witness, state, signer.public_key, key) == []  # nothing new
    signed = read(state, signer.public_key, key.public_key)
    assert [c.checkpoint.tree_size for c in signed] == [4, 7]
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    with pytest.raises(WitnessError, match="cosigned by"):
        read(state, signer.public_key, other.public_key)
    # the operator cuts the tail and empties the witness folder they can reach
    operator.cut_tail(sqlite_engine, 4)
    (folder / "00000000000000000007.json").unlink()
    with pytest.raises(WitnessError, match="no longer holds the checkpoint at size 7"):
        cosign(witness, state, signer.public_key, key)
    with pytest.raises(VerificationError, match="cosigned checkpoint covers 7"):
        verify(sqlite_engine, signer,
               external=[(c.checkpoint, "cosigned") for c in signed])
