"""signed permit decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:40:00
"""

import sqlalchemy as sa
import sqlmodel

import spe.db.types
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('permit_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('jti', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kid', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('permit_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('permit_version', sa.Integer(), nullable=False),
    sa.Column('issued_at', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('token', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['permit_id'], ['permits.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer', 'jti')
    )
    with op.batch_alter_table('permit_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_permit_decisions_permit_id'), ['permit_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('permit_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_permit_decisions_permit_id'))
    op.drop_table('permit_decisions')
