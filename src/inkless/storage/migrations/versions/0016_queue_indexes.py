"""queue indexes: the rows under way (queued, sending) of the outbox and the chat outbox

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

A claim reads the rows of one status in due order from a partial index that holds only
them. The index on (status, next_attempt_at) stays for the other questions (failed copies).
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

QUEUES = ('outbox', 'chat_messages')
STATUSES = ('queued', 'sending')


def upgrade() -> None:
    for table in QUEUES:
        for status in STATUSES:
            where = sa.text(f"status = '{status}'")
            op.create_index(f'ix_{table}_{status}', table, ['next_attempt_at', 'id'],
                            postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for table in QUEUES:
        for status in STATUSES:
            op.drop_index(f'ix_{table}_{status}', table_name=table)
