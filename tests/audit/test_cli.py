"""``spe audit``: checkpoint, export, verify (offline, with only the public key), purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from spe.audit import Actor, draft
from spe.audit.log import append
from spe.cli.audit import app
from spe.crypto.signing import SigningKey, public_key_pem
from spe.db import get_engine
from spe.db.types import utcnow
from spe.settings import get_settings
from tests.audit.conftest import audit_tables

runner = CliRunner()


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    get_engine.cache_clear()
    engine = get_engine()
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    with Session(engine) as s:
        append(s, [draft(action="old.event", actor=Actor.system("tests"))] * 3,
               at=utcnow() - timedelta(days=400))
        append(s, [draft(action="new.event", actor=Actor.system("tests"))] * 4)
        s.commit()
    key = SigningKey.load_or_create(get_settings().resolved_audit_signing_key_path)
    pem = tmp_path / "audit.pub"
    pem.write_text(public_key_pem(key.public_key))
    yield engine, pem, tmp_path
    engine.dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_checkpoint_export_verify_and_purge(deployment):
    _, pem, tmp = deployment
    done = runner.invoke(app, ["checkpoint"])
    assert done.exit_code == 0 and "checkpoint at tree size 7" in done.output
    exported = runner.invoke(app, ["export", str(tmp / "log.jsonl"), "--from", "1"])
    assert exported.exit_code == 0 and "exported 6 events" in exported.output
    verified = runner.invoke(app, ["verify", "--export", str(tmp / "log.jsonl"),
                                   "--public-key", str(pem)])
    assert verified.exit_code == 0, verified.output
    assert "verified leaves 1..6 (6), 6 bodies" in verified.output
    purged = runner.invoke(app, ["purge"])
    assert purged.exit_code == 0 and "purged 3 event bodies" in purged.output
    verified = runner.invoke(app, ["verify", "--public-key", str(pem)])
    assert verified.exit_code == 0, verified.output
    assert "3 bodies purged past retention (gaps: 0..2)" in verified.output


@pytest.mark.parametrize("verifier", ["auto", "compiled", "python"])
def test_verify_names_the_first_tampered_event(deployment, verifier):
    engine, pem, _ = deployment
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    options = ["verify", "--public-key", str(pem), "--verifier", verifier, "--workers", "2"]
    clean = runner.invoke(app, options)
    assert clean.exit_code == 0, clean.output
    ran = "python" if verifier == "python" else "compiled"
    flat = " ".join(clean.output.split())  # rich wraps long lines
    assert "verified leaves 0..6 (7), 7 bodies" in flat and f"({ran} verifier)" in flat
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor_id = 'nobody' WHERE seq = 4"))
    result = runner.invoke(app, options)
    assert result.exit_code == 1
    assert "seq 4: body does not match the leaf's commitment" in result.output


def test_without_the_compiled_verifier_auto_runs_python(deployment, monkeypatch):
    from spe.audit import native

    _, pem, _ = deployment
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    monkeypatch.setattr(native, "_native", None)  # as an install without a compiler
    refused = runner.invoke(app, ["verify", "--public-key", str(pem), "--verifier", "compiled"])
    assert refused.exit_code == 2 and "was not built" in refused.output
    auto = runner.invoke(app, ["verify", "--public-key", str(pem)])
    assert auto.exit_code == 0 and "(python verifier)" in " ".join(auto.output.split())


def test_a_wrong_key_is_refused(deployment, tmp_path):
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    other = tmp_path / "other.pub"
    other.write_text(public_key_pem(SigningKey.load_or_create(tmp_path / "o.pem").public_key))
    result = runner.invoke(app, ["verify", "--public-key", str(other)])
    assert result.exit_code == 1 and "not the trusted key" in result.output


def test_verify_against_a_kept_checkpoint_and_a_witness(deployment, monkeypatch):
    """The operator cuts the tail and recomputes the head: the database alone verifies,
    the checkpoint an auditor kept and the witness folder do not let it pass."""
    from tests.audit import operator

    engine, pem, tmp = deployment
    witness = tmp / "witness"
    monkeypatch.setenv("SPE_AUDIT_WITNESS", witness.as_uri())
    get_settings.cache_clear()
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0  # size 7, witnessed
    with Session(engine) as s:
        kept = s.execute(text("SELECT tree_size FROM audit_checkpoint")).scalar()
    latest = tmp / "kept.json"
    latest.write_text((witness / f"{kept:020d}.json").read_text())
    options = ["verify", "--public-key", str(pem)]
    ok = runner.invoke(app, [*options, "--trusted-checkpoint", str(latest),
                             "--witness", witness.as_uri()])
    assert ok.exit_code == 0, ok.output
    assert "1 signed checkpoints and 2 kept outside the database" in \
        " ".join(ok.output.split())
    operator.cut_tail(engine, 5)
    monkeypatch.delenv("SPE_AUDIT_WITNESS")
    get_settings.cache_clear()
    alone = runner.invoke(app, options)  # its old leaves lost their only checkpoint
    assert alone.exit_code == 1 and "no signed checkpoint covers" in " ".join(
        alone.output.split())
    monkeypatch.setenv("SPE_AUDIT_WITNESS", witness.as_uri())
    get_settings.cache_clear()
    for extra in (["--trusted-checkpoint", str(latest)], ["--witness", str(witness)],
                  []):  # the last: SPE_AUDIT_WITNESS
        caught = runner.invoke(app, [*options, *extra])
        assert caught.exit_code == 1, caught.output
        assert "checkpoint covers 7: the log was truncated" in " ".join(caught.output.split())
    refused = runner.invoke(app, ["checkpoint"])  # the platform will not sign it either
    assert refused.exit_code == 1 and "truncated" in refused.output


def test_verify_refuses_old_leaves_no_checkpoint_covers(deployment):
    """The deployment's first events are 400 days old: without a checkpoint (deleted, or
    never made) verify refuses; --as-of a time before them, it does not."""
    _, pem, _ = deployment
    result = runner.invoke(app, ["verify", "--public-key", str(pem)])
    assert result.exit_code == 1
    assert "no signed checkpoint covers them" in " ".join(result.output.split())
    before = (utcnow() - timedelta(days=500)).strftime("%Y-%m-%d")
    assert runner.invoke(app, ["verify", "--public-key", str(pem), "--as-of", before]
                         ).exit_code == 0
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    assert runner.invoke(app, ["verify", "--public-key", str(pem)]).exit_code == 0


def test_cosign_and_verify_with_the_cosignatures(deployment, monkeypatch):
    from tests.audit import operator

    engine, pem, tmp = deployment
    witness = tmp / "witness"
    monkeypatch.setenv("SPE_AUDIT_WITNESS", str(witness))
    get_settings.cache_clear()
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    cosigner = ["--public-key", str(pem), "--witness", str(witness), "--state",
                str(tmp / "cosigner"), "--key", str(tmp / "cosigner.pem")]
    done = runner.invoke(app, ["cosign", *cosigner])
    assert done.exit_code == 0 and "cosigned 1 checkpoints, up to size 7" in done.output
    monkeypatch.delenv("SPE_AUDIT_WITNESS")  # only the cosigner's word from here on
    get_settings.cache_clear()
    (tmp / "cosigner.pub").write_text(public_key_pem(
        SigningKey.load_or_create(tmp / "cosigner.pem").public_key))
    options = ["verify", "--public-key", str(pem), "--cosignatures", str(tmp / "cosigner"),
               "--cosigner-key", str(tmp / "cosigner.pub")]
    assert runner.invoke(app, options).exit_code == 0
    operator.cut_tail(engine, 5)
    caught = runner.invoke(app, options)
    assert caught.exit_code == 1 and "cosigned" in caught.output


@pytest.mark.parametrize("database", [
    "postgresql+psycopg://u:p@db.example.org/audit?sslmode=prefer",  # refused before use
    "sqlite:///{tmp}/no-such.db",  # the compiled verifier cannot open it
])
def test_a_database_that_cannot_be_read_is_an_error_not_a_verdict(deployment, database):
    _, pem, tmp = deployment
    result = runner.invoke(app, ["verify", "--public-key", str(pem), "--database",
                                 database.format(tmp=tmp), "--verifier", "compiled"])
    assert result.exit_code == 2, result.output
    assert "error" in result.output and "TAMPERED" not in result.output


def test_verify_on_the_host_finds_the_configured_key(deployment, monkeypatch, tmp_path):
    assert runner.invoke(app, ["checkpoint"]).exit_code == 0
    found = runner.invoke(app, ["verify"])
    assert found.exit_code == 0, found.output
    assert "1 signed checkpoints" in found.output
    monkeypatch.setenv("SPE_AUDIT_SIGNING_KEY_PATH", str(tmp_path / "elsewhere.pem"))
    get_settings.cache_clear()
    remote = runner.invoke(app, ["verify"])
    assert remote.exit_code == 2
    assert "/api/v1/audit/public-key" in remote.output
    assert not (tmp_path / "elsewhere.pem").exists()  # never created by verify
