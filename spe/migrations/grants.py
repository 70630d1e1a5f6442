"""The checkpoint signer's grants (``signer_role``, :func:`spe.audit.schema.signer_grants`),
given by migration 0008 and again by every upgrade to head: they are idempotent, and a
signer role named after 0008 ran must get them as well."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.engine import Connection

from spe.audit.schema import TABLES, signer_grants


def grant_signer(connection: Connection, attributes: Mapping) -> None:
    """On PostgreSQL, give ``attributes['signer_role']`` (if set) its grants and take INSERT
    on checkpoints from ``attributes['app_role']``."""
    signer = attributes.get("signer_role")
    if connection.dialect.name != "postgresql" or not signer:
        return
    if signer == connection.execute(text("SELECT current_user")).scalar():
        raise ValueError(f"the checkpoint signer's role {signer!r} is the tables' owner, who "
                         "may do anything to them: give the signer a role of its own")
    for statement in signer_grants(signer, attributes.get("app_role")):
        connection.execute(text(statement))


def revoke_signer(connection: Connection, attributes: Mapping) -> None:
    """Undo :func:`grant_signer`: the signer's role loses the audit tables, the application
    role adds checkpoints again."""
    signer = attributes.get("signer_role")
    if connection.dialect.name != "postgresql" or not signer:
        return
    app_role = attributes.get("app_role")
    signer_grants(signer, app_role)  # refuses what is not a plain role name
    statements = [f"REVOKE ALL ON {table} FROM {signer}" for table in TABLES]
    if app_role:
        statements.append(f"GRANT INSERT ON audit_checkpoint TO {app_role}")
    for statement in statements:
        connection.execute(text(statement))
