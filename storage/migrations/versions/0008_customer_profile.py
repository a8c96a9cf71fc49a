"""customer profile: custom attributes, tags, value tier and lifecycle stage

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('value_tier', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('lifecycle', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('profiled_at', storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('profiled_at')
        batch_op.drop_column('lifecycle')
        batch_op.drop_column('value_tier')
        batch_op.drop_column('tags')
        batch_op.drop_column('attributes')
