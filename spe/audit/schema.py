"""PostgreSQL-only DDL making the audit tables append-only (run by the migration).

Two layers, so one mistake does not open the log:

- grants: the application role may INSERT and SELECT the audit tables, and UPDATE only the
  head row that sequences appends; never UPDATE, DELETE or TRUNCATE the rest;
- triggers, which bind every role but a superuser and the table owner dropping them:
  UPDATE, DELETE and TRUNCATE of leaves, nodes and checkpoints are refused; event bodies may
  not be updated, and may be deleted only once older than ``min_retention_days``. That is
  the retention purge, run by ``spe audit purge`` on the privileged connection.

The tables must be owned by the migration role, not by ``app_role``.

The checkpoint signer may have a role of its own (:func:`signer_grants`): it reads the
audit tables, as verifying and checkpointing do, and adds checkpoints, nothing else; the
application role then no longer adds checkpoints either.
"""

from __future__ import annotations

import re

from spe.audit.config import MIN_RETENTION_DAYS

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FROZEN = ("audit_leaf", "audit_node", "audit_checkpoint")
TABLES = (*FROZEN, "audit_event", "audit_head")
SIGNER_READS = ("audit_head", "audit_checkpoint", "audit_node", "audit_leaf", "audit_event")
"""What the checkpoint signer reads: the head and the checkpoints (is one due, from where to
verify), the stored subtree hashes at the last checkpoint and for the witness's consistency
proofs, the leaves and bodies after it (:func:`spe.audit.verify.verify_tail`), and the
events asking for a checkpoint (:func:`spe.audit.signer.pending_request`)."""


def _role(name: str) -> str:
    if not ROLE.match(name):
        raise ValueError(f"{name!r} is not a plain PostgreSQL role name")
    return name


def postgres_ddl(app_role: str | None, min_retention_days: int = MIN_RETENTION_DAYS
                 ) -> list[str]:
    """Statements to run, in order, as the tables' owner after creating them. Without an
    application role only the triggers are installed (the owner then runs the platform)."""
    if app_role is not None:
        _role(app_role)
    if min_retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"retention must be at least {MIN_RETENTION_DAYS} days")
    statements = [
        """CREATE OR REPLACE FUNCTION spe_audit_refuse() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$""",
        f"""CREATE OR REPLACE FUNCTION spe_audit_event_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND OLD.ts < now() - interval '{min_retention_days} days' THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit event %: % refused (bodies are only purged past retention)',
            OLD.seq, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""",
    ]
    for table in FROZEN:
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION spe_audit_refuse()",
        ]
    statements += [
        "DROP TRIGGER IF EXISTS audit_event_guard ON audit_event",
        "CREATE TRIGGER audit_event_guard BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION spe_audit_event_guard()",
    ]
    for table in (*FROZEN, "audit_event"):
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION spe_audit_refuse()",
        ]
    if app_role is not None:
        statements += [f"REVOKE ALL ON {table} FROM PUBLIC, {app_role}" for table in TABLES]
        statements += [f"GRANT SELECT, INSERT ON {table} TO {app_role}" for table in TABLES]
        statements += [f"GRANT UPDATE (size, frontier) ON audit_head TO {app_role}"]
    statements += ["INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, '') "
                   "ON CONFLICT (id) DO NOTHING"]
    return statements


def signer_grants(signer_role: str, app_role: str | None = None) -> list[str]:
    """Statements giving the checkpoint signer's role SELECT on :data:`SIGNER_READS` and
    INSERT on ``audit_checkpoint`` only (its rows carry their key, ``tree_size``: no
    sequence), and taking INSERT on ``audit_checkpoint`` from ``app_role``, so that only the
    signer adds checkpoints. Idempotent; run as the tables' owner."""
    _role(signer_role)
    if app_role is not None and _role(app_role) == signer_role:
        raise ValueError("the checkpoint signer's role must not be the application's: the "
                         "signing key would sit beside the application's rights again")
    statements = [f"REVOKE ALL ON {table} FROM {signer_role}" for table in TABLES]
    statements += [f"GRANT SELECT ON {', '.join(SIGNER_READS)} TO {signer_role}",
                   f"GRANT INSERT ON audit_checkpoint TO {signer_role}"]
    if app_role is not None:
        statements.append(f"REVOKE INSERT ON audit_checkpoint FROM {app_role}")
    return statements
