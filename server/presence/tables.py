"""Kiosk events as received, conflicts, batch replies kept for Idempotency-Key replays, corrections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Event(Base):
    """One kiosk event, keyed by (device, event id); an event id is stored once across all devices (a
    kiosk provisioned again under a new device id sends its old events again). ``person_number`` is
    cleared when the person is erased; ``content_hash`` is of the event as received, so a replay is
    still recognised."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_seq", "device_id", "seq"),
        Index("ix_events_person_captured", "person_number", "captured_at"),
        Index("ux_events_event_id", "event_id", unique=True),
    )

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    person_number: Mapped[str | None] = mapped_column(String(40))
    number_known: Mapped[bool]  # did the server know the person's number when the event arrived
    outcome: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(200))
    captured_at: Mapped[datetime] = mapped_column(index=True)
    clock_suspect: Mapped[bool]
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class EventConflict(Base):
    """An event that came again with the id of a stored one but other content (the stored one is kept)."""

    __tablename__ = "event_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(36))
    content: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class IngestBatch(Base):
    """The reply to a batch, kept by (device, Idempotency-Key) so a replayed key gets the first reply."""

    __tablename__ = "ingest_batches"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)


class AttendanceCorrection(Base):
    """A manual correction of one person's attendance on one day; the newest for that day holds."""

    __tablename__ = "attendance_corrections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    present: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[str | None] = mapped_column(String(36))
    corrected_at: Mapped[datetime]
