"""outbox: the failed copies in a partial index of their own, instead of (status, next_attempt_at)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

Since 0016 the claims read the partial indexes of the rows under way. The index on
(status, next_attempt_at) was left for the other questions, which are two: how many copies
are in each state (healthz, metrics) and the newest failed copies (admin page, API). It
cost every copy an entry at its queuing and two changes at each of its claim and its
sending. The failed copies, few, now have a partial index; the counts read the three
partial indexes.
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("status = 'failed'")
    op.create_index('ix_outbox_failed', 'outbox', ['id'], postgresql_where=where, sqlite_where=where)
    op.drop_index('ix_outbox_status_due', table_name='outbox')


def downgrade() -> None:
    op.create_index('ix_outbox_status_due', 'outbox', ['status', 'next_attempt_at'])
    op.drop_index('ix_outbox_failed', table_name='outbox')
