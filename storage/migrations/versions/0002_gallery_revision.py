"""Gallery revision: one row whose number every gallery change increments.

A running pipeline compares it with the revision its faiss index was built at, so identities edited from the
GUI or the CLI (another process) reach its index without a restart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'gallery_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_gallery_state')),
    )
    op.bulk_insert(table, [{'id': 1, 'revision': 0}])


def downgrade() -> None:
    op.drop_table('gallery_state')
