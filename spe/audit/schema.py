"""PostgreSQL-only DDL making the audit tables append-only (run by the migration).

Two layers, so one mistake does not open the log:

- grants: the application role may INSERT and SELECT the audit tables, and UPDATE only the
  head row that sequences appends; never UPDATE, DELETE or TRUNCATE the rest;
- triggers, which bind every role but a superuser and the table owner dropping them:
  UPDATE, DELETE and TRUNCATE of leaves, nodes and checkpoints are refused; event bodies may
  not be updated, and may be deleted only once older than ``min_retention_days``. That is
  the retention purge, run by ``spe audit purge`` on the privileged connection.

The tables must be owned by the migration role, not by ``app_role``.
"""

from __future__ import annotations

import re

from spe.audit.config import MIN_RETENTION_DAYS

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FROZEN = ("audit_leaf", "audit_node", "audit_checkpoint")
TABLES = (*FROZEN, "audit_event", "audit_head")


def postgres_ddl(app_role: str | None, min_retention_days: int = MIN_RETENTION_DAYS
                 ) -> list[str]:
    """Statements to run, in order, as the tables' owner after creating them. Without an
    application role only the triggers are installed (the owner then runs the platform)."""
    if app_role is not None and not ROLE.match(app_role):
        raise ValueError(f"{app_role!r} is not a plain PostgreSQL role name")
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
