"""privacy: erased customers, redacted touchpoints

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erased_by', sa.String(length=200), nullable=True))

    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redacted_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_touchpoints_retention', ['channel', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_touchpoints_retention')
        batch_op.drop_column('redacted_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('erased_by')
        batch_op.drop_column('erased_at')
