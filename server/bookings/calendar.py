"""iCalendar feeds (RFC 5545) of a room or a person at secret, revocable URLs, built with ``icalendar``.

A series is one VEVENT with its RRULE and EXDATEs (cancelled and skipped dates), in its own time zone
(with a VTIMEZONE), so a calendar shows it as the lecturer thinks of it; an occurrence moved or
renamed is a RECURRENCE-ID override; a single booking is a VEVENT of its own. UIDs are the row ids:
stable across fetches. Cancelled, rejected and released bookings are gone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.auth.roles import Role
from server.bookings import recurrence
from server.bookings.tables import Booking, CalendarToken, Participant, Room, Series
from server.core.clock import utcnow
from server.core.errors import Forbidden, Invalid, NotFound
from server.core.ids import new_id
from server.people.tables import Person

SHOWN = ("pending", "confirmed", "checked_in", "completed")
DOMAIN = "labgate"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, actor: Actor, room_id: str | None, number: str | None) -> tuple[CalendarToken, str]:
    person_id = None
    if number is not None:
        person_id = session.scalar(select(Person.id).where(Person.number == number))
        if person_id is None:
            raise Invalid(f"no person {number}", [(["body", "person"], "unknown number")])
        if person_id != actor.person_id and actor.role not in (Role.ADMIN, Role.HEAD):
            raise Forbidden("a calendar of another person is for the head or an admin")
    if room_id is not None and session.get(Room, room_id) is None:
        raise Invalid(f"no room {room_id}", [(["body", "room_id"], "unknown room")])
    token = "lgc_" + secrets.token_urlsafe(24)
    row = CalendarToken(id=new_id(), token_hash=_hash(token), room_id=room_id, person_id=person_id,
                        created_by=actor.person_id, created_at=utcnow(), revoked_at=None)
    session.add(row)
    session.commit()
    return row, token


def revoke(session: Session, actor: Actor, calendar_id: str) -> None:
    row = session.get(CalendarToken, calendar_id)
    if row is None or (row.created_by != actor.person_id and actor.role not in (Role.ADMIN, Role.HEAD)):
        raise NotFound(f"no calendar {calendar_id} of yours")
    row.revoked_at = row.revoked_at or utcnow()
    session.commit()


def feed(session: Session, token: str) -> bytes:
    row = session.scalar(select(CalendarToken).where(CalendarToken.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None:
        raise NotFound("no such calendar (the URL is wrong or was revoked)")
    query = select(Booking).where(Booking.status.in_(SHOWN))
    if row.room_id:
        query = query.where(Booking.room_id == row.room_id)
        title = session.get(Room, row.room_id)
        name = f"LabGate {title.code if title else ''}"
    else:
        query = query.where(or_(Booking.holder_id == row.person_id, Booking.id.in_(
            select(Participant.booking_id).where(Participant.person_id == row.person_id))))
        name = "LabGate bookings"
    return build(session, list(session.scalars(query.order_by(Booking.starts_at))), name)


def build(session: Session, bookings: Sequence[Booking], name: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//LabGate//bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    codes = dict(session.execute(select(Room.id, Room.code)).all())
    stamp = utcnow()
    by_series: dict[str, list[Booking]] = {}
    zones: set[str] = set()
    for booking in bookings:
        if booking.series_id:
            by_series.setdefault(booking.series_id, []).append(booking)
        else:
            calendar.add_component(_event(booking, booking.id, codes, stamp))
    for series_id, items in by_series.items():
        series = session.get(Series, series_id)
        if series is None:
            continue
        tz = recurrence.zone(series.timezone)
        zones.add(series.timezone)
        length = timedelta(minutes=series.duration_minutes)
        first = series.first_start.astimezone(tz)
        master = _event(items[0], f"series-{series.id}", codes, stamp, first, _wall(first, length, tz))
        master.add("rrule", _rule(series.rrule))
        exdates = [datetime.combine(datetime.fromisoformat(d).date(), first.timetz().replace(tzinfo=None),
                                    tzinfo=tz) for d in series.exdates.get("dates", [])]
        expected = {b.starts_at.astimezone(tz).date() for b in items}
        for occurrence in recurrence.expand(series.rrule, first, tz, first + timedelta(days=3660), strict=False):
            if occurrence.date() not in expected and occurrence not in exdates:
                exdates.append(occurrence)  # gone from the feed (cancelled, rejected, released)
        for moment in sorted(exdates):
            master.add("exdate", moment)
        calendar.add_component(master)
        for b in items:  # an occurrence moved or renamed: its own VEVENT with RECURRENCE-ID
            planned = datetime.combine(b.starts_at.astimezone(tz).date(), first.timetz().replace(tzinfo=None),
                                       tzinfo=tz)
            if b.starts_at != planned or b.ends_at != _wall(planned, length, tz) or b.title != items[0].title:
                override = _event(b, f"series-{series.id}", codes, stamp, b.starts_at.astimezone(tz),
                                  b.ends_at.astimezone(tz))
                override.add("recurrence-id", planned)
                calendar.add_component(override)
    for zone_name in sorted(zones):
        calendar.add_component(Timezone.from_tzid(zone_name))
    return calendar.to_ical()


def _wall(start: datetime, length: timedelta, tz: ZoneInfo) -> datetime:
    return (start.replace(tzinfo=None) + length).replace(tzinfo=tz)


def _rule(text: str) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    for item in recurrence.check(text).split(";"):
        key, _, value = item.partition("=")
        parts[key.lower()] = value.split(",") if key == "BYDAY" else [value]
    return parts


def _event(booking: Booking, uid: str, codes: dict[str, str], stamp: datetime, start: datetime | None = None,
           end: datetime | None = None) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", start or booking.starts_at)
    event.add("dtend", end or booking.ends_at)
    event.add("summary", booking.title)
    event.add("location", codes.get(booking.room_id, ""))
    event.add("status", "TENTATIVE" if booking.status == "pending" else "CONFIRMED")
    return event
