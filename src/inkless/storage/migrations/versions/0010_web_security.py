"""web security: server-side sessions, API tokens with an owner and a scope

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-28

Tokens made before this revision keep no owner and no scope; the API refuses them (401,
naming `inkless api-token create NAME --owner EMAIL`) instead of guessing whom they serve.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('scope', sa.String(length=8), nullable=True))

    with op.batch_alter_table('signin_links', schema=None) as batch_op:
        batch_op.create_index('ix_signin_links_email_created', ['email', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signin_links', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_links_email_created')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('scope')
        batch_op.drop_column('owner')

    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))

    op.drop_table('web_sessions')
