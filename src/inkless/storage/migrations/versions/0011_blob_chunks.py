"""blob chunks: big values kept apart from their rows, a megabyte a row

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A message as it arrived, an attachment's file and a shared outbox body of 256 KB or more
are stored as 1 MB chunks in `blob_chunks` (their own column stays empty): writing or
reading one never holds more than a chunk in the driver, and updating the owner's row
(a message's status, say) no longer rewrites megabytes. Rows stored before this revision
keep their values where they are and are read as before.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blob_chunks',
    sa.Column('owner', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('owner', 'owner_id', 'seq')
    )


def downgrade() -> None:
    op.drop_table('blob_chunks')
