"""Blackouts: holidays and exam weeks no booking may fall in. A new one lists the bookings it hits and
cancels them only when asked, telling their holders."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.bookings import recurrence, rules, service
from server.bookings.schemas import BlackoutIn
from server.bookings.tables import Blackout, Booking, Room
from server.core.clock import utcnow
from server.core.errors import Invalid, NotFound
from server.core.ids import new_id
from server.core.settings import Settings

HORIZON = timedelta(days=730)


def create(session: Session, settings: Settings, actor: Actor, body: BlackoutIn,
           now: datetime | None = None) -> tuple[Blackout, list[Booking], int]:
    now = now or utcnow()
    if body.room_id is not None and session.get(Room, body.room_id) is None:
        raise Invalid(f"no room {body.room_id}", [(["body", "room_id"], "unknown room")])
    tz = recurrence.zone(body.timezone) if body.timezone else settings.zone
    start = body.starts_at if body.starts_at.tzinfo else body.starts_at.replace(tzinfo=tz)
    end = body.ends_at if body.ends_at.tzinfo else body.ends_at.replace(tzinfo=tz)
    service.writer(session)
    blackout = Blackout(id=new_id(), room_id=body.room_id, title=body.title, starts_at=start, ends_at=end,
                        rrule=body.rrule, timezone=tz.key, created_at=now)
    session.add(blackout)
    query = select(Booking).where(Booking.status.in_(("pending", "confirmed")), Booking.ends_at > now,
                                  Booking.starts_at < (now + HORIZON if body.rrule else end))
    if body.room_id:
        query = query.where(Booking.room_id == body.room_id)
    hits = [b for b in session.scalars(query.order_by(Booking.starts_at))
            if rules.blackout_spans(blackout, b.starts_at, b.ends_at)]
    cancelled = 0
    if body.cancel_hits and hits:
        rooms = {r.id: r for r in session.scalars(select(Room).where(Room.id.in_({b.room_id for b in hits})))}
        for booking in hits:
            booking.status, booking.updated_at = "cancelled", now
            booking.note = f"{booking.note}; " if booking.note else ""
            booking.note += f"cancelled by the blackout {body.title!r}"
            service.changed(session, booking, now)
            service.tell(session, [booking], rooms[booking.room_id], "booking_cancelled",
                          {"reason": f"blackout: {body.title}"})
        service.exclude_dates(session, hits)
        cancelled = len(hits)
    session.commit()
    return blackout, hits, cancelled


def listing(session: Session, room_id: str | None) -> list[Blackout]:
    query = select(Blackout)
    if room_id:
        query = query.where(or_(Blackout.room_id.is_(None), Blackout.room_id == room_id))
    return list(session.scalars(query.order_by(Blackout.starts_at)))


def remove(session: Session, blackout_id: str) -> None:
    found = session.get(Blackout, blackout_id)
    if found is None:
        raise NotFound(f"no blackout {blackout_id}")
    session.delete(found)
    session.commit()
