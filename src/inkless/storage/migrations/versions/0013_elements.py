"""公文 elements: urgency, 签发人, 成文日期, 份号, joint issuing, delegates

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

A document's urgency (特急 / 加急), its signer and issue date once issued, and its co-issuing
units; each copy's serial (份号); each approval's unit (co-issuers sign off in parallel) and,
when a delegate decided it, who; each person's delegates.
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('urgency', sa.String(length=4), nullable=True))
        batch.add_column(sa.Column('signer', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('issue_date', sa.Date(), nullable=True))
        batch.add_column(sa.Column('co_issuers', sa.Text(), server_default='', nullable=False))
    op.add_column('recipients', sa.Column('copy_number', sa.Integer(), nullable=True))
    op.add_column('approvals', sa.Column('unit_id', sa.String(length=64), nullable=True))
    op.add_column('approvals', sa.Column('decided_by', sa.String(length=320), nullable=True))
    op.add_column('people', sa.Column('delegates', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('people', 'delegates')
    op.drop_column('approvals', 'decided_by')
    op.drop_column('approvals', 'unit_id')
    op.drop_column('recipients', 'copy_number')
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of `documents` would cascade to its rows.
    for column in ('co_issuers', 'issue_date', 'signer', 'urgency'):
        op.drop_column('documents', column)
