"""the checkpoint signer's own role

The checkpoint signer, the one process holding the audit signing key, connected as the
application role: the key sat beside credentials that may change every platform table.
With ``signer_role`` (``SPE_DATABASE_SIGNER_ROLE``) it gets a role of its own that may read
the audit tables and add checkpoints, nothing else (``spe.audit.schema.signer_grants``: no
UPDATE or DELETE anywhere, no other table, no sequence since a checkpoint's key is its tree
size), and the application role may no longer add checkpoints: only the signer does.
Without it nothing changes (the signer then runs as the application role, which keeps
INSERT on ``audit_checkpoint``). :func:`spe.migrations.upgrade` applies the same grants on
every upgrade, so a signer role named after this revision ran gets them too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:00:00
"""

from alembic import op
from spe.migrations.grants import grant_signer, revoke_signer

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    grant_signer(op.get_bind(), op.get_context().config.attributes)


def downgrade() -> None:
    revoke_signer(op.get_bind(), op.get_context().config.attributes)
