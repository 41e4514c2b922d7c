"""Room bookings: rooms, seats, series, bookings (one row per occurrence), participants, blackouts,
calendar feed tokens; no two bookings holding a slot overlap, enforced by the database.

PostgreSQL: three exclusion constraints (btree_gist) over tstzrange(starts_at, blocked_until, '[)'),
only over the statuses that hold a slot. SQLite: triggers that refuse the same overlaps; SQLite has
one writer at a time, and the services write bookings under BEGIN IMMEDIATE.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
HOLDING = "status IN ('confirmed', 'checked_in', 'completed')"
SPAN = "tstzrange(starts_at, blocked_until, '[)')"

# SQLite: the overlap rule as triggers; RAISE(ABORT) fails the statement with "booking_overlap".
# Times are stored as UTC text of one format, so text comparison orders them.
CLASH = """
SELECT RAISE(ABORT, 'booking_overlap') WHERE NEW.status IN ('confirmed', 'checked_in', 'completed') AND EXISTS (
    SELECT 1 FROM bookings AS b
    WHERE b.room_id = NEW.room_id AND b.id <> NEW.id
      AND b.status IN ('confirmed', 'checked_in', 'completed')
      AND b.starts_at < NEW.blocked_until AND NEW.starts_at < b.blocked_until
      AND (NEW.seat_id IS NULL OR b.seat_id IS NULL OR b.seat_id = NEW.seat_id));
"""


def _id(column: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(column, sa.String(length=36), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'rooms',
        _id('id'),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('opening_hours', sa.JSON(), nullable=True),
        sa.Column('needs_approval', sa.Boolean(), nullable=False),
        sa.Column('check_in_required', sa.Boolean(), nullable=False),
        sa.Column('auto_release_minutes', sa.Integer(), nullable=False),
        sa.Column('check_in_opens_minutes', sa.Integer(), nullable=False),
        sa.Column('buffer_minutes', sa.Integer(), nullable=False),
        sa.Column('max_ahead_days', sa.Integer(), nullable=False),
        sa.Column('min_minutes', sa.Integer(), nullable=False),
        sa.Column('max_minutes', sa.Integer(), nullable=False),
        sa.Column('no_show_limit', sa.Integer(), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rooms')),
        sa.UniqueConstraint('code', name=op.f('uq_rooms_code')),
    )
    op.create_table(
        'seats',
        _id('id'),
        _id('room_id'),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_seats_room_id_rooms'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_seats')),
    )
    op.create_index(op.f('ix_seats_room_id'), 'seats', ['room_id'], unique=False)
    op.create_table(
        'booking_series',
        _id('id'),
        sa.Column('rrule', sa.String(length=500), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('first_start', WHEN, nullable=False),
        sa.Column('duration_minutes', sa.Integer(), nullable=False),
        sa.Column('exdates', sa.JSON(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_series')),
    )
    op.create_table(
        'bookings',
        _id('id'),
        _id('room_id'),
        _id('seat_id', nullable=True),
        _id('series_id', nullable=True),
        _id('holder_id'),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('starts_at', WHEN, nullable=False),
        sa.Column('ends_at', WHEN, nullable=False),
        sa.Column('blocked_until', WHEN, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('checked_in_at', WHEN, nullable=True),
        sa.Column('check_in_method', sa.String(length=16), nullable=True),
        sa.Column('check_in_event', sa.String(length=64), nullable=True),
        _id('decided_by', nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('feed_noted', sa.Boolean(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_bookings_positive_length')),
        sa.CheckConstraint('blocked_until >= ends_at', name=op.f('ck_bookings_buffer_after_end')),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_bookings_room_id_rooms'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['seat_id'], ['seats.id'], name=op.f('fk_bookings_seat_id_seats'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['series_id'], ['booking_series.id'],
                                name=op.f('fk_bookings_series_id_booking_series'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['holder_id'], ['people.id'], name=op.f('fk_bookings_holder_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings')),
    )
    op.create_index(op.f('ix_bookings_seat_id'), 'bookings', ['seat_id'], unique=False)
    op.create_index(op.f('ix_bookings_series_id'), 'bookings', ['series_id'], unique=False)
    op.create_index(op.f('ix_bookings_holder_id'), 'bookings', ['holder_id'], unique=False)
    op.create_index('ix_bookings_room_span', 'bookings', ['room_id', 'starts_at'], unique=False)
    op.create_index('ix_bookings_status_start', 'bookings', ['status', 'starts_at'], unique=False)
    op.create_table(
        'booking_participants',
        _id('booking_id'),
        _id('person_id'),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'],
                                name=op.f('fk_booking_participants_booking_id_bookings'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name=op.f('fk_booking_participants_person_id_people'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('booking_id', 'person_id', name=op.f('pk_booking_participants')),
    )
    op.create_index(op.f('ix_booking_participants_person_id'), 'booking_participants', ['person_id'], unique=False)
    op.create_table(
        'booking_blackouts',
        _id('id'),
        _id('room_id', nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('starts_at', WHEN, nullable=False),
        sa.Column('ends_at', WHEN, nullable=False),
        sa.Column('rrule', sa.String(length=500), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_booking_blackouts_room_id_rooms'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_blackouts')),
    )
    op.create_index(op.f('ix_booking_blackouts_room_id'), 'booking_blackouts', ['room_id'], unique=False)
    op.create_table(
        'calendar_tokens',
        _id('id'),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        _id('room_id', nullable=True),
        _id('person_id', nullable=True),
        _id('created_by'),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('revoked_at', WHEN, nullable=True),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_calendar_tokens_room_id_rooms'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_calendar_tokens_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_tokens_token_hash')),
    )

    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        # a whole room against a whole room
        op.execute(f"ALTER TABLE bookings ADD CONSTRAINT ex_bookings_room_overlap EXCLUDE USING gist "
                   f"(room_id WITH =, {SPAN} WITH &&) WHERE (seat_id IS NULL AND {HOLDING})")
        # a whole room against any seat in it (and the reverse): same room, different kinds
        op.execute(f"ALTER TABLE bookings ADD CONSTRAINT ex_bookings_room_seat_overlap EXCLUDE USING gist "
                   f"(room_id WITH =, (CASE WHEN seat_id IS NULL THEN 0 ELSE 1 END) WITH <>, {SPAN} WITH &&) "
                   f"WHERE ({HOLDING})")
        # a seat against the same seat
        op.execute(f"ALTER TABLE bookings ADD CONSTRAINT ex_bookings_seat_overlap EXCLUDE USING gist "
                   f"(seat_id WITH =, {SPAN} WITH &&) WHERE (seat_id IS NOT NULL AND {HOLDING})")
    else:
        op.execute(f"CREATE TRIGGER bookings_no_overlap_insert BEFORE INSERT ON bookings BEGIN {CLASH} END")
        op.execute("CREATE TRIGGER bookings_no_overlap_update BEFORE UPDATE OF status, starts_at, blocked_until, "
                   f"room_id, seat_id ON bookings BEGIN {CLASH} END")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS bookings_no_overlap_insert")
        op.execute("DROP TRIGGER IF EXISTS bookings_no_overlap_update")
    for table in ('calendar_tokens', 'booking_blackouts', 'booking_participants', 'bookings', 'booking_series',
                  'seats', 'rooms'):
        op.drop_table(table)
