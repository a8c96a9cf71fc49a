"""login throttles: failed sign-ins per account and per address; which client a token is for

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_last_failure_at'), ['last_failure_at'], unique=False)
    with op.batch_alter_table('agent_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agent_tokens', schema=None) as batch_op:
        batch_op.drop_column('client')
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_last_failure_at'))
    op.drop_table('login_throttles')
