"""wecom: members' WeCom userids, the chat outbox per channel, the callback's replay guard

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

`people.wecom` is the member's WeCom userid (from the org file). The chat outbox carries
each row's `channel` (telegram | wecom); a WeCom row is addressed to a `userid` instead of a
chat, and a card keeps its `task_id` and the latest single-use `response_code` that can
replace its buttons (with `label`, the short outcome shown instead of them).
`wecom_callbacks` remembers each callback's timestamp and nonce within the replay window;
`wecom_conversations` what a member's next text answers (a rejection's reason).
A short message copy's `channel` may now name two channels (`bot+wecom`).
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('people', sa.Column('wecom', sa.String(length=64), nullable=True))
    op.create_index('ix_people_wecom', 'people', ['wecom'])
    with op.batch_alter_table('chat_messages') as batch:
        batch.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column('channel', sa.String(length=16), nullable=False, server_default='telegram'))
        batch.add_column(sa.Column('userid', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('task_id', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('response_code', sa.String(length=512), nullable=True))
        batch.add_column(sa.Column('label', sa.String(length=64), nullable=True))
        batch.create_index('ix_chat_messages_task_id', ['task_id'], unique=True)
    with op.batch_alter_table('short_message_recipients') as batch:
        batch.alter_column('channel', existing_type=sa.String(length=8), type_=sa.String(length=16))
    op.create_table('wecom_callbacks',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_wecom_callbacks_seen_at', 'wecom_callbacks', ['seen_at'])
    op.create_table('wecom_conversations',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('awaiting', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('userid')
    )


def downgrade() -> None:
    op.drop_table('wecom_conversations')
    op.drop_index('ix_wecom_callbacks_seen_at', table_name='wecom_callbacks')
    op.drop_table('wecom_callbacks')
    op.execute("DELETE FROM chat_messages WHERE channel <> 'telegram'")
    op.execute("UPDATE short_message_recipients SET channel = 'bot' WHERE channel = 'bot+wecom'")
    with op.batch_alter_table('short_message_recipients') as batch:
        batch.alter_column('channel', existing_type=sa.String(length=16), type_=sa.String(length=8))
    with op.batch_alter_table('chat_messages') as batch:
        batch.drop_index('ix_chat_messages_task_id')
        batch.drop_column('label')
        batch.drop_column('response_code')
        batch.drop_column('task_id')
        batch.drop_column('userid')
        batch.drop_column('channel')
        batch.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=False)
    op.drop_index('ix_people_wecom', table_name='people')
    op.drop_column('people', 'wecom')
