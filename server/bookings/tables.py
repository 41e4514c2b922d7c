"""Rooms, their seats, bookings (one row per occurrence), series, blackouts and calendar feed tokens.

The rule that no two bookings holding a slot overlap lives in the database (migration 0007): on
PostgreSQL three exclusion constraints over ``tstzrange(starts_at, blocked_until, '[)')`` (a whole
room against a whole room, a whole room against any of its seats, a seat against the same seat); on
SQLite a trigger that refuses the same overlaps, run inside the one writer's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base

HOLDING = ("confirmed", "checked_in", "completed")
"""The statuses that hold a slot; pending, cancelled, rejected and released hold none."""

STATUSES = ("pending", "confirmed", "checked_in", "completed", "cancelled", "rejected", "released")


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # devices name their room by this code
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    # {"mon": ["07:00", "21:00"], ...} in the lab's time zone; a weekday missing is closed; null: always open
    opening_hours: Mapped[dict[str, Any] | None]
    needs_approval: Mapped[bool]
    check_in_required: Mapped[bool]
    auto_release_minutes: Mapped[int] = mapped_column(Integer)
    check_in_opens_minutes: Mapped[int] = mapped_column(Integer)
    buffer_minutes: Mapped[int] = mapped_column(Integer)
    max_ahead_days: Mapped[int] = mapped_column(Integer)
    min_minutes: Mapped[int] = mapped_column(Integer)
    max_minutes: Mapped[int] = mapped_column(Integer)
    # a student with this many no-shows in the current term books pending (approval); null: never
    no_show_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Seat(Base):
    __tablename__ = "seats"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class Series(Base):
    """A recurring booking: its RRULE (RFC 5545) in its time zone, and the dates left out."""

    __tablename__ = "booking_series"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rrule: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64))
    first_start: Mapped[datetime]  # DTSTART, as the caller gave it
    duration_minutes: Mapped[int] = mapped_column(Integer)
    exdates: Mapped[dict[str, Any]]  # {"dates": ["2027-02-16", ...]} local dates left out (skipped or cancelled)
    created_at: Mapped[datetime]


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="positive_length"),
        CheckConstraint("blocked_until >= ends_at", name="buffer_after_end"),
        Index("ix_bookings_room_span", "room_id", "starts_at"),
        Index("ix_bookings_status_start", "status", "starts_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seat_id: Mapped[str | None] = mapped_column(ForeignKey("seats.id", ondelete="CASCADE"), index=True)
    series_id: Mapped[str | None] = mapped_column(ForeignKey("booking_series.id", ondelete="SET NULL"), index=True)
    holder_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocked_until: Mapped[datetime]  # ends_at plus the room's buffer: the span the slot is held for
    status: Mapped[str] = mapped_column(String(16))
    checked_in_at: Mapped[datetime | None]
    check_in_method: Mapped[str | None] = mapped_column(String(16))  # face | pin | qr | manual | api
    check_in_event: Mapped[str | None] = mapped_column(String(64))  # the presence event that is the evidence
    decided_by: Mapped[str | None] = mapped_column(String(36))  # who approved or rejected
    note: Mapped[str] = mapped_column(Text)  # why it was rejected, cancelled, released; rules waived
    feed_noted: Mapped[bool]  # journaled for kiosks once it came within their window
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Participant(Base):
    __tablename__ = "booking_participants"

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True)


class Blackout(Base):
    """A period no room (or one room) can be booked: a holiday, an exam week; may recur (RRULE)."""

    __tablename__ = "booking_blackouts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    rrule: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class CalendarToken(Base):
    """A secret, revocable URL for an iCalendar feed of one room or one person."""

    __tablename__ = "calendar_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    person_id: Mapped[str | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
