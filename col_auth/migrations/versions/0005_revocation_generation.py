"""The revocation generation: what per-worker token-validation caches compare with

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'revocation_generation',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(table, [{'id': 1, 'value': secrets.randbits(63)}])


def downgrade():
    op.drop_table('revocation_generation')
