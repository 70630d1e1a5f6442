"""per-permit budgets, kept on the permit's project

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


def downgrade() -> None:
    op.drop_table('project_budgets')
