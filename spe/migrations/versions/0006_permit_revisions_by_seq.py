"""permit revisions keyed by their place in the history; the app role's sequences

A permit's revisions were unique on (permit_id, version, action), but suspend and resume do
not change the version of the terms: suspend, resume, suspend wrote the same key twice and
the kill switch answered 500. Each revision now has ``seq``, its position in the permit's
history, unique per permit.

Migration 0002 granted the application role the tables but not the sequences behind their
ids, so every insert into a table with a generated id failed as that role. The role gets
USAGE on every sequence (nextval only; the audit tables' own grants are unchanged).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 15:00:00
"""

import sqlalchemy as sa

from alembic import op
from spe.audit.schema import ROLE

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NAMING = {"uq": "%(table_name)s_%(column_0_N_name)s_key"}  # PostgreSQL's default names


def upgrade() -> None:
    with op.batch_alter_table('permit_revisions', naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
    op.execute("UPDATE permit_revisions SET seq = (SELECT count(*) FROM permit_revisions r "
               "WHERE r.permit_id = permit_revisions.permit_id AND r.id <= permit_revisions.id)")
    with op.batch_alter_table('permit_revisions', naming_convention=NAMING) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('permit_revisions_permit_id_version_action_key',
                                 type_='unique')
        batch_op.create_unique_constraint('permit_revisions_permit_id_seq_key',
                                          ['permit_id', 'seq'])
    app_role = op.get_context().config.attributes.get("app_role")
    if op.get_bind().dialect.name == "postgresql" and app_role:
        if not ROLE.match(app_role):
            raise ValueError(f"{app_role!r} is not a plain PostgreSQL role name")
        op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {app_role}")
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES "
                   f"TO {app_role}")


def downgrade() -> None:
    with op.batch_alter_table('permit_revisions', naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('permit_revisions_permit_id_seq_key', type_='unique')
        batch_op.create_unique_constraint('permit_revisions_permit_id_version_action_key',
                                          ['permit_id', 'version', 'action'])
        batch_op.drop_column('seq')
