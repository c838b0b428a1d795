"""Transits: the times confident hand-offs took between two cameras, so a restart keeps what was learned.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'transits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source_camera', sa.String(length=200), nullable=False),
        sa.Column('target_camera', sa.String(length=200), nullable=False),
        sa.Column('gap_s', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transits')),
    )
    op.create_index('ix_transits_pair', 'transits', ['source_camera', 'target_camera'])


def downgrade() -> None:
    op.drop_index('ix_transits_pair', table_name='transits')
    op.drop_table('transits')
