"""imap ingress: checkpoints, delivery keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_keys',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('inbound_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('imap_checkpoints',
    sa.Column('mailbox', sa.String(length=500), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('mailbox')
    )


def downgrade() -> None:
    op.drop_table('imap_checkpoints')
    op.drop_table('delivery_keys')
