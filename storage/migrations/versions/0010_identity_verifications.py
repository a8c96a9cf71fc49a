"""identity verifications: codes that prove a chat visitor's email; audit trail index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_verifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('identity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['contact_identities.id'], name=op.f('fk_identity_verifications_identity_id_contact_identities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_verifications'))
    )
    with op.batch_alter_table('identity_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_verifications_identity_id'), ['identity_id'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_action_target', ['action', 'target', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_action_target')
    with op.batch_alter_table('identity_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_verifications_identity_id'))
    op.drop_table('identity_verifications')
