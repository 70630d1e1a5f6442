"""per-permit budgets, kept on the permit's project; the extract's plaintext copies counted

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 18:00:00
"""

import sqlalchemy as sa
import sqlmodel

import spe.db.types
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project_budgets',
    sa.Column('cpu_hours', sa.Float(), nullable=True),
    sa.Column('gpu_hours', sa.Float(), nullable=True),
    sa.Column('carbon_g_co2e', sa.Float(), nullable=True),
    sa.Column('warn_fraction', sa.Float(), nullable=False),
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('set_at', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state_changed_at', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.add_column('project_usage', sa.Column('extract_copies', sa.Integer(), nullable=False,
                                             server_default='0'))


def downgrade() -> None:
    op.drop_column('project_usage', 'extract_copies')
    op.drop_table('project_budgets')
