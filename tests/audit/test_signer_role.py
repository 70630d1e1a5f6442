"""The checkpoint signer's own PostgreSQL role, on the real server, set up as
docs/production.md says (its SQL blocks run here): the signer, connected as that role,
verifies and signs over what the application wrote, and may do nothing else; the
application role may no longer add checkpoints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from spe import migrations
from spe.audit import Actor, record
from spe.audit.request import ask, await_checkpoint
from spe.audit.schema import SIGNER_READS, signer_grants
from spe.audit.signer import CheckpointSigner, create_checkpoint
from spe.audit.verify import verify_database
from spe.crypto.signing import SigningKey
from spe.db import make_engine, session_scope

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).parents[2]
ACTOR = Actor.system("tests")


def production_sql() -> list[str]:
    """The SQL blocks of docs/production.md, in order."""
    doc = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    return re.findall(r"^```sql\n(.*?)^```", doc, re.MULTILINE | re.DOTALL)


def statements(block: str, names: dict[str, str]) -> list[str]:
    """``block``'s statements with the documentation's names replaced (roles are shared by
    the server's databases) and without passwords (the test server trusts its clients)."""
    block = re.sub(r"\s+PASSWORD '…'", "", block)
    block = re.sub(r"\b(spe_owner|spe_app|spe_signer|spe)\b", lambda m: names[m[1]], block)
    return [s.strip() for s in block.split(";") if s.strip()]


@dataclass
class Roles:
    names: dict[str, str]
    owner: Engine
    app: Engine
    signer: Engine
    signer_url: str


@pytest.fixture(scope="module")
def roles(postgres_server) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:8]
    names = {"spe": f"spe_{suffix}", "spe_owner": f"owner_{suffix}",
             "spe_app": f"app_{suffix}", "spe_signer": f"signer_{suffix}"}
    create, _ = production_sql()
    for statement in statements(create, names):
        postgres_server.admin(statement)
    url = {role: postgres_server.url(names["spe"], user=names[role])
           for role in ("spe_owner", "spe_app", "spe_signer")}
    owner = make_engine(url["spe_owner"])
    migrations.upgrade(owner, app_role=names["spe_app"], signer_role=names["spe_signer"])
    found = Roles(names, owner, make_engine(url["spe_app"]), make_engine(url["spe_signer"]),
                  url["spe_signer"])
    yield found
    for engine in (found.owner, found.app, found.signer):
        engine.dispose()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    """The signer's key file, as the operator mounts it (never created in production)."""
    path = tmp_path_factory.mktemp("audit-signing") / "audit-ed25519.pem"
    SigningKey.load_or_create(path)
    return path


@pytest.fixture(scope="module")
def key(key_file) -> SigningKey:
    return SigningKey.load_or_create(key_file)


def written_by_the_app(roles: Roles, n: int = 3) -> int:
    """``n`` events recorded as the application role, committed; the log's size after."""
    with session_scope(roles.app) as s:
        events = [record(s, action="thing.done", actor=ACTOR, details={"i": i})
                  for i in range(n)]
    return events[-1].seq + 1


def test_the_documented_grants_are_the_migrations_and_all_the_signer_has(roles):
    _, granted = production_sql()
    documented = statements(granted, roles.names)
    assert documented == [s for s in signer_grants(roles.names["spe_signer"],
                                                   roles.names["spe_app"])
                          if not s.startswith("REVOKE ALL")]
    signer, app = roles.names["spe_signer"], roles.names["spe_app"]
    with roles.owner.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = :r"), {"r": signer}).all()
        columns = conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.column_privileges "
            "WHERE grantee = :r"), {"r": signer}).all()
        sequences = conn.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE has_sequence_privilege(:r, "
            "schemaname || '.' || sequencename, 'USAGE,SELECT,UPDATE')"), {"r": signer}).all()
        app_adds = conn.execute(text(
            "SELECT has_table_privilege(:r, 'audit_checkpoint', 'INSERT'), "
            "has_table_privilege(:r, 'audit_checkpoint', 'SELECT')"), {"r": app}).one()
    assert set(tables) == {*((t, "SELECT") for t in SIGNER_READS),
                           ("audit_checkpoint", "INSERT")}
    # table-level grants show per column too: nothing beyond the tables above
    assert {t for t, _ in columns} <= set(SIGNER_READS)
    assert sequences == []
    assert tuple(app_adds) == (False, True)  # the application reads checkpoints, adds none


def test_the_signer_signs_as_its_role_over_what_the_app_wrote(roles, key):
    size = written_by_the_app(roles)
    with session_scope(roles.app) as s:  # the API asks for one
        asked = ask(s, ACTOR, "checkpoint")
    signer = CheckpointSigner(roles.signer, key, interval=timedelta(hours=1))
    signed = signer.tick()  # verifies the log since the last checkpoint, then signs
    assert signed is not None and signed.tree_size == max(size, asked.seq + 1)
    assert await_checkpoint(roles.app, asked.seq, 5).tree_size == signed.tree_size
    for compiled in (False, None):  # in Python; with the compiled verifier when built
        with Session(roles.signer) as s:  # `spe audit verify` beside the signer
            report = verify_database(s, key.public_key,
                                     datetime.now(UTC) - timedelta(days=366),
                                     compiled=compiled)
        assert report.size >= signed.tree_size and report.checkpoints >= 1


def test_the_application_role_cannot_add_a_checkpoint(roles, key):
    written_by_the_app(roles, 1)
    with Session(roles.app) as s, pytest.raises(DBAPIError, match="permission denied"):
        create_checkpoint(s, key)  # even holding the key


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'forged.action'",
    "DELETE FROM audit_event",
    "UPDATE audit_checkpoint SET key_id = key_id",
    "DELETE FROM audit_checkpoint",
    "TRUNCATE audit_checkpoint",
    "UPDATE audit_head SET size = size",
    "DELETE FROM audit_node",
    "INSERT INTO audit_leaf (seq, version, ts, commitment, leaf_hash) "
    "VALUES (1000000, 1, now(), '\\x00', '\\x00')",
    "INSERT INTO audit_event (seq, ts, actor_type, actor_id, action, outcome, salt) "
    "VALUES (1000000, now(), 'system', 'x', 'forged', 'success', '\\x00')",
    "SELECT count(*) FROM permits",
    "UPDATE permits SET status = 'granted'",
    "DELETE FROM permits",
    "SELECT count(*) FROM hub_clients",
    "UPDATE users SET email = email",
    "INSERT INTO role_grants (user_id, role) VALUES ('x', 'admin')",
    "SELECT nextval('permit_revisions_id_seq')",
    "CREATE TABLE signer_owned (a int)",
])
def test_the_signer_role_may_do_nothing_else(roles, statement):
    written_by_the_app(roles, 1)
    with roles.signer.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.execute(text(statement))


def test_spe_audit_signer_runs_in_production_with_its_own_url_alone(roles, key, key_file,
                                                                    tmp_path):
    """The signer's pod: no SPE_DATABASE_URL, only its own; it signs what the API asks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPE_")}
    env |= {"SPE_ENVIRONMENT": "production", "SPE_SECURE_COOKIES": "true",
            "SPE_DATA_DIR": str(tmp_path / "data"), "SPE_AUDIT_SIGNER_POLL_SECONDS": "0.1",
            "SPE_AUDIT_SIGNER_DATABASE_URL": roles.signer_url,
            "SPE_AUDIT_SIGNING_KEY_PATH": str(key_file)}
    process = subprocess.Popen([sys.executable, "-m", "spe", "audit", "signer"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=tmp_path)
    try:
        written_by_the_app(roles)
        with session_scope(roles.app) as s:
            asked = ask(s, ACTOR, "checkpoint")
        signed = await_checkpoint(roles.app, asked.seq, 60)
        assert signed.key_id == key.key_id
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert f"running, key {key.key_id}" in output
