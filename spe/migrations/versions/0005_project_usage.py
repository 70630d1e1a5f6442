"""project usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:00:00
"""

import sqlalchemy as sa
import sqlmodel

import spe.db.types
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project_usage',
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('member', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('cpu_seconds', sa.Float(), nullable=False),
    sa.Column('memory_gib_seconds', sa.Float(), nullable=False),
    sa.Column('peak_memory_bytes', sa.BigInteger(), nullable=False),
    sa.Column('gpu_seconds', sa.JSON(), nullable=False),
    sa.Column('storage_bytes', sa.BigInteger(), nullable=False),
    sa.Column('extract_bytes', sa.BigInteger(), nullable=False),
    sa.Column('since', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', spe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'member')
    )


def downgrade() -> None:
    op.drop_table('project_usage')
