"""Check-in by presence (a kiosk at the room's door saw the holder or a participant), through the
API, and the job that releases no-shows, completes past bookings and sends kiosks the bookings that
came into their window (today and tomorrow).

The job runs inside every server process (no cron): each pass is idempotent, and rows are changed
with guarded UPDATEs, so two processes passing at once release a booking once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.bookings import service
from server.bookings.tables import Booking, Participant, Room
from server.core.clock import utcnow
from server.core.database import Database
from server.core.errors import Conflict, Forbidden
from server.feed.journal import note
from server.notifications.kinds import Topic
from server.notifications.outbox import notify
from server.people.tables import Person

log = logging.getLogger("labgate.bookings")
BATCH = 1000


def window(booking: Booking, room: Room) -> tuple[datetime, datetime]:
    return booking.starts_at - timedelta(minutes=room.check_in_opens_minutes), booking.ends_at


def by_presence(session: Session, room_code: str, events: Iterable[dict[str, Any]]) -> list[str]:
    """Check in the bookings of ``room_code`` whose holder or participant a kiosk accepted inside the
    check-in window; the event is the evidence. In the ingest's transaction; returns the booking ids.
    One query for the batch's bookings (an ingest batch holds hundreds of events), then the matching."""
    wanted = [e for e in events if e.get("outcome") == "accept" and e.get("person_number")]
    if not wanted:
        return []
    room = session.scalar(select(Room).where(Room.code == room_code))
    if room is None:
        return []
    opens = timedelta(minutes=room.check_in_opens_minutes)
    numbers = list({e["person_number"] for e in wanted})
    ids = dict(session.execute(select(Person.number, Person.id).where(Person.number.in_(numbers))).all())
    if not ids:
        return []
    times = [e["captured_at"] for e in wanted]
    people = list(ids.values())
    candidates = session.scalars(select(Booking).where(
        Booking.room_id == room.id, Booking.status == "confirmed", Booking.starts_at <= max(times) + opens,
        Booking.ends_at > min(times),
        or_(Booking.holder_id.in_(people), Booking.id.in_(
            select(Participant.booking_id).where(Participant.person_id.in_(people))))
    ).order_by(Booking.starts_at)).all()
    if not candidates:
        return []
    involved: dict[str, set[str]] = {b.id: {b.holder_id} for b in candidates}
    for booking_id, participant in session.execute(select(Participant.booking_id, Participant.person_id).where(
            Participant.booking_id.in_(list(involved)), Participant.person_id.in_(people))):
        involved[booking_id].add(participant)
    done: list[str] = []
    for event in sorted(wanted, key=lambda e: e["captured_at"]):
        person_id = ids.get(event["person_number"])
        at: datetime = event["captured_at"]
        for booking in candidates:
            if (booking.id not in done and person_id in involved[booking.id]
                    and booking.starts_at <= at + opens and booking.ends_at > at
                    and _check_in(session, booking, at, event.get("method") or "face", event.get("event_id"))):
                done.append(booking.id)
                log.info("event=booking_checked_in booking=%s by=presence method=%s", booking.id, event.get("method"))
    return done


def _check_in(session: Session, booking: Booking, at: datetime, method: str, evidence: str | None) -> bool:
    changed = session.execute(update(Booking).where(Booking.id == booking.id, Booking.status == "confirmed")
                              .values(status="checked_in", checked_in_at=at, check_in_method=method,
                                      check_in_event=evidence, updated_at=utcnow())
                              .execution_options(synchronize_session="fetch"))
    if changed.rowcount:  # type: ignore[attr-defined]
        session.refresh(booking)
        if booking.feed_noted:
            note(session, "booking", booking.id)
        return True
    return False


def by_api(session: Session, actor: Actor, booking_id: str, now: datetime | None = None) -> Booking:
    """Check in through the API (marked ``api``): the holder, a participant, the head or an admin."""
    now = now or utcnow()
    booking = service.get(session, booking_id)
    involved = (booking.holder_id == actor.person_id
                or session.get(Participant, (booking.id, actor.person_id)) is not None)
    if not involved and actor.role not in service.DECIDERS:
        raise Forbidden("only the holder, a participant, the head or an admin checks a booking in")
    room = service.room(session, booking.room_id)
    opens, closes = window(booking, room)
    if booking.status != "confirmed":
        raise Conflict(f"booking {booking_id} is {booking.status}; only a confirmed booking is checked in")
    if not opens <= now < closes:
        raise Conflict(f"check-in for this booking is open from {opens.isoformat()} to {closes.isoformat()}")
    _check_in(session, booking, now, "api", None)
    session.commit()
    return booking


@dataclass
class Passed:
    released: int = 0
    completed: int = 0
    noted: int = 0


def pass_once(session: Session, now: datetime | None = None) -> Passed:
    """Release no-shows (the row kept, status released, the holder told), complete finished bookings,
    journal bookings coming into the kiosks' window. Each part in its own commit."""
    now = now or utcnow()
    result = Passed()
    while True:
        rows = session.execute(
            select(Booking, Room).join(Room, Room.id == Booking.room_id)
            .where(Booking.status == "confirmed", Room.check_in_required.is_(True), Booking.starts_at <= now)
            .order_by(Booking.starts_at).limit(BATCH)).all()
        due = [(b, r) for b, r in rows if b.starts_at + timedelta(minutes=r.auto_release_minutes) <= now]
        if not due:
            break
        for booking, room in due:
            changed = session.execute(update(Booking).where(Booking.id == booking.id, Booking.status == "confirmed")
                                      .values(status="released", updated_at=now,
                                              note=_joined(booking.note, f"released: nobody checked in within "
                                                                         f"{room.auto_release_minutes} minutes"))
                                      .execution_options(synchronize_session=False))
            if not changed.rowcount:  # type: ignore[attr-defined]
                continue
            result.released += 1
            note(session, "booking", booking.id)
            notify(session, topic=Topic.BOOKINGS, template="booking_released",
                   context={"room": room.code, "title": booking.title, "start": booking.starts_at.isoformat(),
                            "end": booking.ends_at.isoformat(), "minutes": room.auto_release_minutes},
                   dedupe_key=f"booking:{booking.id}:released", people=[booking.holder_id])
        session.commit()
        if len(due) < BATCH:
            break
    done = session.execute(update(Booking).where(
        Booking.ends_at <= now, or_(Booking.status == "checked_in", and_(
            Booking.status == "confirmed", Booking.room_id.in_(select(Room.id).where(
                Room.check_in_required.is_(False))))))
        .values(status="completed", updated_at=now).execution_options(synchronize_session=False))
    result.completed = int(done.rowcount)  # type: ignore[attr-defined]
    session.commit()
    coming = list(session.scalars(select(Booking.id).where(
        Booking.feed_noted.is_(False), Booking.starts_at < now + service.FEED_WINDOW, Booking.ends_at > now)))
    for start in range(0, len(coming), BATCH):
        chunk = coming[start:start + BATCH]
        session.execute(update(Booking).where(Booking.id.in_(chunk)).values(feed_noted=True)
                        .execution_options(synchronize_session=False))
        for booking_id in chunk:
            note(session, "booking", booking_id)
        session.commit()
    result.noted = len(coming)
    return result


def _joined(text: str, more: str) -> str:
    return f"{text}; {more}" if text else more


@asynccontextmanager
async def running(database: Database, every: float) -> AsyncIterator[None]:
    """The job in the background of a server process, every ``every`` seconds (0: not at all)."""
    if every <= 0:
        yield
        return
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(_pass, database)
            except Exception:  # a database hiccup must not end the job; the next pass tries again
                log.exception("event=booking_job_failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    task = asyncio.create_task(loop(), name="labgate-bookings-job")
    try:
        yield
    finally:
        stop.set()
        await task


def _pass(database: Database) -> None:
    with database.session() as session:
        result = pass_once(session)
    if result.released or result.completed or result.noted:
        log.info("event=booking_job released=%d completed=%d noted=%d", result.released, result.completed,
                 result.noted)
