"""receiving, signing for and forwarding: outside organs, per-unit 签收, 收文 and 转发

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Outside organs from the org file's `external:` and each unit's incoming prefix; a document's
direction and, for one received from outside, its source organ, source number and incoming
number (numbered per unit and year in `incoming_counters`); the document it forwards and the
请示 a 批复 answers; one row per addressed unit (main or copy) with when and by whom it was
signed for; which units a recipient signs for by acknowledging.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('external_organs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('senders', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('incoming_counters',
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id', 'year')
    )
    op.create_table('document_units',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'unit_id')
    )
    op.create_index(op.f('ix_document_units_document_id'), 'document_units', ['document_id'], unique=False)
    op.add_column('units', sa.Column('incoming_prefix', sa.String(length=100), nullable=True))
    with op.batch_alter_table('documents') as batch:
        batch.add_column(sa.Column('direction', sa.String(length=8), server_default='outgoing', nullable=False))
        batch.add_column(sa.Column('source_organ', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('source_number', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('incoming_number', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch.add_column(sa.Column('answers_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
    op.create_index(op.f('ix_documents_parent_id'), 'documents', ['parent_id'], unique=False)
    op.create_index(op.f('ix_documents_answers_id'), 'documents', ['answers_id'], unique=False)
    op.add_column('recipients', sa.Column('signs_for', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('recipients', 'signs_for')
    op.drop_index(op.f('ix_documents_answers_id'), table_name='documents')
    op.drop_index(op.f('ix_documents_parent_id'), table_name='documents')
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of `documents` would cascade to its rows.
    for column in ('answers_id', 'parent_id', 'incoming_number', 'source_number', 'source_organ', 'direction'):
        op.drop_column('documents', column)
    op.drop_column('units', 'incoming_prefix')
    op.drop_index(op.f('ix_document_units_document_id'), table_name='document_units')
    op.drop_table('document_units')
    op.drop_table('incoming_counters')
    op.drop_table('external_organs')
