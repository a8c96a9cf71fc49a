"""touchpoints indexed by kind and time: the reports' date-range reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:40:00.000000
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.create_index('ix_touchpoints_kind_time', ['kind', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_touchpoints_kind_time')
