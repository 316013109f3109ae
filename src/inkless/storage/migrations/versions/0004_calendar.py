"""calendar: events, attendees, feeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one row whose generation every feed-changing write bumps.
    op.execute(sa.text("INSERT INTO calendar_state (id, generation, changed_at) VALUES (1, 0, CURRENT_TIMESTAMP)"))
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=500), nullable=True),
    sa.Column('requirements', sa.Text(), nullable=True),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('organizer', sa.String(length=320), nullable=False),
    sa.Column('organizer_name', sa.String(length=200), nullable=True),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_uid', sa.String(length=500), nullable=True),
    sa.Column('source_sequence', sa.Integer(), nullable=True),
    sa.Column('inbound_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('digest_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ical', sa.Text(), nullable=False),
    sa.Column('ical_busy', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_end'), ['end'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_events_source', ['organizer', 'source_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_start'), ['start'], unique=False)

    op.create_table('feed_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('feed_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_tokens_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feed_tokens_unit_id'), ['unit_id'], unique=False)

    op.create_table('attendees',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('partstat', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'email')
    )
    with op.batch_alter_table('attendees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendees_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attendees_person_id'), ['person_id'], unique=False)

    op.create_table('event_units',
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'unit_id')
    )
    with op.batch_alter_table('event_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_units_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_units_unit_id'))

    op.drop_table('event_units')
    with op.batch_alter_table('attendees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendees_person_id'))
        batch_op.drop_index(batch_op.f('ix_attendees_event_id'))

    op.drop_table('attendees')
    with op.batch_alter_table('feed_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_tokens_unit_id'))
        batch_op.drop_index(batch_op.f('ix_feed_tokens_person_id'))

    op.drop_table('feed_tokens')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_start'))
        batch_op.drop_index('ix_events_source')
        batch_op.drop_index(batch_op.f('ix_events_person_id'))
        batch_op.drop_index(batch_op.f('ix_events_end'))

    op.drop_table('events')
    op.drop_table('calendar_state')
