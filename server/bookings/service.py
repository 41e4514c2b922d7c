"""The booking rules: rooms, booking (single or a series), clashes, approval, cancellation, edits.

The overlap rule itself is the database's (migration 0007); this code asks first only to answer
with every clash at once, and turns the database's refusal into the same 409 when a racing writer
got there between the question and the insert. On SQLite every booking write runs under
``BEGIN IMMEDIATE`` (``writer``): one writer at a time from its first statement, so a write never
fails half way for a lock it could not upgrade.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.auth.roles import Role
from server.bookings import recurrence, rules
from server.bookings.clash import STAFF, Clash
from server.bookings.schemas import BookingIn, BookingPatch, RoomIn, RoomPatch, Scope, SeatIn
from server.bookings.tables import HOLDING, Booking, Participant, Room, Seat, Series
from server.core.clock import iso, utcnow
from server.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.core.ids import new_id
from server.core.settings import Settings
from server.devices.tables import Device
from server.feed.journal import note
from server.notifications import contacts
from server.notifications.kinds import Topic
from server.notifications.outbox import Audience, notify, withdraw
from server.people.tables import Person

log = logging.getLogger("labgate.bookings")

DECIDERS = {Role.ADMIN, Role.HEAD}
FEED_WINDOW = timedelta(days=2)
LOCK_SPACE = 0x4C47424B  # "LGBK": the advisory locks of booking writers, one per room


def writer(session: Session, room_id: str | None = None) -> None:
    """Become the room's one writer until the commit: SQLite's write lock now (BEGIN IMMEDIATE), or on
    PostgreSQL a transaction-scoped advisory lock per room. The exclusion constraints are the rule
    either way; the lock makes our clash list exact and keeps two inserts that clash across two of
    the constraints (a whole room and a seat) from deadlocking each other."""
    if session.get_bind().dialect.name != "sqlite":
        if room_id is not None:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:room))"),
                            {"space": LOCK_SPACE, "room": room_id})
        return
    raw = session.connection().connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


# -- rooms -------------------------------------------------------------------------------------------
def create_room(session: Session, body: RoomIn) -> Room:
    if session.scalar(select(Room.id).where(Room.code == body.code)):
        raise Conflict(f"a room with code {body.code} exists", [(["body", "code"], "taken")])
    room = Room(id=new_id(), created_at=utcnow(), **body.model_dump())
    session.add(room)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"a room with code {body.code} exists", [(["body", "code"], "taken")]) from exc
    return room


def room(session: Session, room_id: str) -> Room:
    found = session.get(Room, room_id)
    if found is None:
        raise NotFound(f"no room {room_id}; GET /api/v1/rooms lists them")
    return found


def rooms(session: Session) -> list[Room]:
    return list(session.scalars(select(Room).order_by(Room.code)))


def update_room(session: Session, room_id: str, body: RoomPatch) -> Room:
    found = room(session, room_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key != "no_show_limit":
            continue
        setattr(found, key, value)
    session.commit()
    return found


def seats(session: Session, room_id: str) -> list[Seat]:
    return list(session.scalars(select(Seat).where(Seat.room_id == room_id).order_by(Seat.code)))


def add_seat(session: Session, room_id: str, body: SeatIn) -> Seat:
    room(session, room_id)
    if session.scalar(select(Seat.id).where(Seat.room_id == room_id, Seat.code == body.code)):
        raise Conflict(f"the room has a seat {body.code} already", [(["body", "code"], "taken")])
    seat = Seat(id=new_id(), room_id=room_id, code=body.code, name=body.name)
    session.add(seat)
    session.commit()
    return seat


def kiosks(session: Session, code: str) -> list[str]:
    return list(session.scalars(select(Device.id).where(Device.room == code, Device.revoked_at.is_(None))
                                .order_by(Device.id)))


# -- clashes -------------------------------------------------------------------------------------------
def clashes(session: Session, room_id: str, seat_id: str | None, start: datetime, blocked: datetime,
            exclude: Sequence[str] = ()) -> list[Clash]:
    """Bookings holding a slot that overlap [start, blocked) as the database's rule sees them."""
    query = (select(Booking, Person.number).join(Person, Person.id == Booking.holder_id)
             .where(Booking.room_id == room_id, Booking.status.in_(HOLDING), Booking.starts_at < blocked,
                    Booking.blocked_until > start))
    if seat_id is not None:
        query = query.where(or_(Booking.seat_id.is_(None), Booking.seat_id == seat_id))
    if exclude:
        query = query.where(Booking.id.not_in(list(exclude)))
    return [Clash(b.starts_at, b.ends_at, "booking", b.id, b.holder_id, number, b.title)
            for b, number in session.execute(query.order_by(Booking.starts_at))]


def clash_error(found: list[Clash], actor: Actor, what: str = "the room is booked then") -> Conflict:
    first = found[0]
    return Conflict(f"{what}: {iso(first.starts_at)} to {iso(first.ends_at)}"
                    + (f" and {len(found) - 1} more" if len(found) > 1 else ""),
                    extra={"clashes": [c.shown(actor) for c in found]})


def is_overlap(exc: IntegrityError) -> bool:
    message = str(exc.orig)
    return "booking_overlap" in message or "ex_bookings_" in message


# -- booking ----------------------------------------------------------------------------------------
@dataclass
class Booked:
    series_id: str | None
    bookings: list[Booking]
    skipped: list[tuple[datetime, list[Clash]]] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A booking or series checked against every rule but the overlap, not yet written: its dates, the
    status it would get, and (after ``blocked``) the clashes of each date."""
    room: Room
    seat: Seat | None
    tz: ZoneInfo
    start: datetime
    length: timedelta
    holder_id: str
    participants: list[str]
    spans: list[tuple[datetime, datetime]]
    status: str
    checked: rules.Checked


def plan(session: Session, settings: Settings, actor: Actor, body: BookingIn, now: datetime) -> Plan:
    """Every rule a booking must pass before its overlaps are asked; raises Invalid for a rule broken,
    Forbidden for booking for someone else."""
    found = room(session, body.room_id)
    seat = _seat(session, found, body.seat_id)
    tz = recurrence.zone(body.timezone) if body.timezone else settings.zone
    start, end = _aware(body.starts_at, tz), _aware(body.ends_at, tz)
    holder_id = _holder(session, actor, body.holder)
    participants = _people(session, body.participants)
    length = end - start
    limit = now + timedelta(days=found.max_ahead_days)
    if body.rrule:
        try:
            starts = recurrence.expand(body.rrule, start, tz, limit)
        except recurrence.RuleProblem as exc:
            raise Invalid(str(exc), [(["body", "rrule"], str(exc))]) from exc
        if not starts:
            raise Invalid("the RRULE gives no occurrence", [(["body", "rrule"], "no occurrence")])
    else:
        starts = [start]
    spans = [(s, _wall_end(s, length, tz)) for s in starts]
    checked = rules.Checked()
    holder_roles = _roles(session, holder_id)
    for s, e in spans:
        rules.check(session, settings, found, actor, holder_roles, s, e, now, checked)
    rules.quota(session, settings, actor, holder_id, holder_roles, spans, checked)
    status = "pending" if found.needs_approval or rules.needs_approval_for_no_shows(
        session, settings, found, holder_roles, holder_id, now) else "confirmed"
    if status == "pending" and actor.role in DECIDERS:
        status = "confirmed"
        checked.waive("approval")
    return Plan(found, seat, tz, start, length, holder_id, participants, spans, status, checked)


def blocked(session: Session, planned: Plan) -> list[tuple[datetime, list[Clash]]]:
    """Each date of the plan with what is in its way: a blackout, or a booking holding the slot (a
    pending request too: the head could never approve it over a confirmed one)."""
    buffer = timedelta(minutes=planned.room.buffer_minutes)
    seat_id = planned.seat.id if planned.seat else None
    found: list[tuple[datetime, list[Clash]]] = []
    for s, e in planned.spans:
        hits = rules.blackout_clashes(session, planned.room.id, s, e)
        hits += clashes(session, planned.room.id, seat_id, s, e + buffer)
        if hits:
            found.append((s, hits))
    return found


def preview(session: Session, settings: Settings, actor: Actor, body: BookingIn,
            now: datetime | None = None) -> tuple[Plan, dict[datetime, list[Clash]]]:
    """What ``book`` would do, without doing it: every date and its clashes (the web's look before
    confirming). Nothing is written; the answer may change before the booking is made."""
    planned = plan(session, settings, actor, body, now or utcnow())
    hits = dict(blocked(session, planned))
    session.rollback()
    return planned, hits


def book(session: Session, settings: Settings, actor: Actor, body: BookingIn, now: datetime | None = None) -> Booked:
    """One booking or a series, with every rule; raises Conflict listing every clash (unless the
    caller asked to skip them), Invalid for a rule broken, Forbidden for booking for someone else."""
    now = now or utcnow()
    planned = plan(session, settings, actor, body, now)
    found, seat, tz, start, length = planned.room, planned.seat, planned.tz, planned.start, planned.length
    status = planned.status
    spans, checked, holder_id, participants = planned.spans, planned.checked, planned.holder_id, planned.participants
    writer(session, found.id)
    buffer = timedelta(minutes=found.buffer_minutes)
    blocked_by = blocked(session, planned)
    if blocked_by and not (body.rrule and body.skip_clashes):
        session.rollback()
        every = [c for _, hits in blocked_by for c in hits]
        what = (f"{len(blocked_by)} of the {len(spans)} dates clash" if body.rrule else "the room is booked then"
                if every[0].kind == "booking" else "the room is closed then (a blackout)")
        raise clash_error(every, actor, what)
    skipped_starts = {s for s, _ in blocked_by}
    series = None
    if body.rrule:
        series = Series(id=new_id(), rrule=recurrence.check(body.rrule), timezone=tz.key, first_start=start,
                        duration_minutes=int(length.total_seconds() // 60),
                        exdates={"dates": sorted({s.astimezone(tz).date().isoformat() for s in skipped_starts})},
                        created_at=now)
        session.add(series)
        session.flush()  # the series row before its occurrences (their foreign key)
    made: list[Booking] = []
    for s, e in spans:
        if s in skipped_starts:
            continue
        booking = Booking(id=new_id(), room_id=found.id, seat_id=seat.id if seat else None,
                          series_id=series.id if series else None, holder_id=holder_id, title=body.title,
                          starts_at=s, ends_at=e, blocked_until=e + buffer, status=status,
                          note="; ".join(f"waived: {w}" for w in checked.waived), feed_noted=False,
                          created_at=now, updated_at=now)
        made.append(booking)
    if not made:
        session.rollback()
        raise clash_error([c for _, hits in blocked_by for c in hits], actor, "every date of the series clashes")
    with _guard(session, actor, found.id, seat.id if seat else None, made):
        session.add_all(made)
        session.flush()
        session.add_all([Participant(booking_id=b.id, person_id=p) for b in made for p in participants
                         if p != holder_id])
        for booking in made:
            changed(session, booking, now, found)
            if booking.status == "confirmed":
                _remind(session, booking, found, now)
        if status == "pending":
            _tell_deciders(session, made, found)
    return Booked(series.id if series else None, made, blocked_by if body.rrule else [], checked.waived)


@contextmanager
def _guard(session: Session, actor: Actor, room_id: str, seat_id: str | None, changed: list[Booking]) -> Iterator[None]:
    """Write and commit; the database's refusal of an overlap (a racing writer won between our question
    and the write) becomes the same 409 with its clashes."""
    try:
        yield
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if not is_overlap(exc):
            raise
        ids = [b.id for b in changed]
        every = [c for b in changed for c in clashes(session, room_id, seat_id, b.starts_at, b.blocked_until, ids)]
        log.info("event=booking_race room=%s bookings=%d", room_id, len(changed))
        if not every:  # the winner was cancelled already: say so rather than pretend
            raise Conflict("another booking took this time at the same moment; try again") from exc
        raise clash_error(every, actor) from exc


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _aware(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _wall_end(start: datetime, length: timedelta, tz: ZoneInfo) -> datetime:
    """The end at the same wall-clock length after ``start`` (a 2 h 40 min practicum stays so across DST)."""
    local = start.astimezone(tz).replace(tzinfo=None) + length
    return local.replace(tzinfo=tz)


def _seat(session: Session, found: Room, seat_id: str | None) -> Seat | None:
    if seat_id is None:
        return None
    seat = session.get(Seat, seat_id)
    if seat is None or seat.room_id != found.id:
        raise Invalid(f"room {found.code} has no seat {seat_id}", [(["body", "seat_id"], "not a seat of the room")])
    return seat


def _holder(session: Session, actor: Actor, number: str | None) -> str:
    if number is None or number == actor.number:
        return actor.person_id
    if actor.role not in DECIDERS:
        raise Forbidden(f"the role {actor.role} books only for itself; head or admin book for others")
    found = session.scalar(select(Person.id).where(Person.number == number, Person.active.is_(True)))
    if found is None:
        raise Invalid(f"no active person {number}", [(["body", "holder"], "unknown number")])
    return found


def _people(session: Session, numbers: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return []
    found = dict(session.execute(select(Person.number, Person.id).where(Person.number.in_(wanted))).all())
    missing = [n for n in wanted if n not in found]
    if missing:
        raise Invalid(f"unknown participants: {', '.join(missing[:10])}", [(["body", "participants"],
                                                                            "unknown number")])
    return [found[n] for n in wanted]


def _roles(session: Session, person_id: str) -> set[str]:
    person = session.get(Person, person_id)
    return set(person.role_names) if person else set()


# -- reading ----------------------------------------------------------------------------------------
def get(session: Session, booking_id: str) -> Booking:
    found = session.get(Booking, booking_id)
    if found is None:
        raise NotFound(f"no booking {booking_id}")
    return found


def listing(session: Session, actor: Actor, room_id: str | None, start: datetime | None, end: datetime | None,
            status: str | None, mine: bool, limit: int, offset: int) -> list[Booking]:
    query = select(Booking)
    if room_id:
        query = query.where(Booking.room_id == room_id)
    if start:
        query = query.where(Booking.ends_at > start)
    if end:
        query = query.where(Booking.starts_at < end)
    if status:
        query = query.where(Booking.status == status)
    if mine:
        query = query.where(or_(Booking.holder_id == actor.person_id, Booking.id.in_(
            select(Participant.booking_id).where(Participant.person_id == actor.person_id))))
    return list(session.scalars(query.order_by(Booking.starts_at, Booking.id).offset(offset).limit(limit)))


def busy(session: Session, room_id: str, start: datetime, end: datetime) -> list[Booking]:
    """The slots held in a room between ``start`` and ``end`` (the availability query)."""
    room(session, room_id)
    return list(session.scalars(select(Booking).where(
        Booking.room_id == room_id, Booking.status.in_(HOLDING), Booking.starts_at < end, Booking.blocked_until > start)
        .order_by(Booking.starts_at)))


def described(session: Session, actor: Actor, bookings: Sequence[Booking]) -> list[dict[str, Any]]:
    """Bookings as the API shows them: the holder's number only to staff and to those in the booking."""
    if not bookings:
        return []
    ids = [b.id for b in bookings]
    people_ids = {b.holder_id for b in bookings}
    parts: dict[str, list[str]] = {}
    for start in range(0, len(ids), 500):
        for booking_id, number, person_id in session.execute(
                select(Participant.booking_id, Person.number, Person.id)
                .join(Person, Person.id == Participant.person_id)
                .where(Participant.booking_id.in_(ids[start:start + 500]))):
            parts.setdefault(booking_id, []).append(number)
            people_ids.add(person_id)
    names = {i: (n, m) for i, n, m in session.execute(select(Person.id, Person.number, Person.name)
                                                      .where(Person.id.in_(list(people_ids))))}
    codes = dict(session.execute(select(Room.id, Room.code).where(Room.id.in_({b.room_id for b in bookings}))).all())
    shown = []
    for b in bookings:
        number, name = names.get(b.holder_id, ("", ""))
        visible = actor.role in STAFF or b.holder_id == actor.person_id or actor.number in parts.get(b.id, [])
        shown.append({"id": b.id, "room_id": b.room_id, "room": codes.get(b.room_id, ""), "seat_id": b.seat_id,
                      "series_id": b.series_id, "title": b.title if visible else "booked",
                      "starts_at": b.starts_at, "ends_at": b.ends_at, "status": b.status,
                      "holder": number if visible else None, "holder_name": name if visible else None,
                      "participants": sorted(parts.get(b.id, [])) if visible else [],
                      "checked_in_at": b.checked_in_at, "check_in_method": b.check_in_method,
                      "note": b.note if visible else ""})
    return shown


# -- changing -------------------------------------------------------------------------------------
def scoped(session: Session, booking: Booking, scope: Scope) -> list[Booking]:
    """The occurrences a change applies to: this one, this and the following ones, or the whole series."""
    if scope == Scope.THIS or booking.series_id is None:
        return [booking]
    query = select(Booking).where(Booking.series_id == booking.series_id)
    if scope == Scope.FOLLOWING:
        query = query.where(Booking.starts_at >= booking.starts_at)
    return list(session.scalars(query.order_by(Booking.starts_at)))


def _may_change(actor: Actor, booking: Booking) -> None:
    if booking.holder_id != actor.person_id and actor.role not in DECIDERS:
        raise Forbidden("only the holder, the head or an admin may change this booking")


def cancel(session: Session, settings: Settings, actor: Actor, booking_id: str, scope: Scope, reason: str,
           now: datetime | None = None) -> list[Booking]:
    now = now or utcnow()
    booking = get(session, booking_id)
    writer(session, booking.room_id)
    session.refresh(booking)
    _may_change(actor, booking)
    targets = [b for b in scoped(session, booking, scope) if b.status in ("pending", "confirmed")]
    if not targets:
        raise Conflict(f"booking {booking_id} is {booking.status}; only pending or confirmed bookings can be "
                       f"cancelled")
    late = now - timedelta(minutes=settings.booking_cancel_until_minutes)
    if actor.role not in DECIDERS and any(b.starts_at < late for b in targets):
        raise Invalid(f"too late to cancel: a booking can be cancelled until "
                      f"{settings.booking_cancel_until_minutes} minutes after its start")
    found = room(session, booking.room_id)
    for b in targets:
        b.status, b.updated_at = "cancelled", now
        b.note = _joined(b.note, f"cancelled by {actor.number}" + (f": {reason}" if reason else ""))
        withdraw(session, f"booking:{b.id}:reminder")
        changed(session, b, now, found)
    exclude_dates(session, targets)
    if actor.person_id != booking.holder_id:
        tell(session, targets, found, "booking_cancelled", {"reason": reason or "-"})
    session.commit()
    return targets


def edit(session: Session, settings: Settings, actor: Actor, booking_id: str, scope: Scope, body: BookingPatch,
         now: datetime | None = None) -> list[Booking]:
    now = now or utcnow()
    booking = get(session, booking_id)
    writer(session, booking.room_id)
    session.refresh(booking)
    _may_change(actor, booking)
    if booking.status not in ("pending", "confirmed"):
        raise Conflict(f"booking {booking_id} is {booking.status}; only pending or confirmed bookings change")
    found = room(session, booking.room_id)
    targets = [b for b in scoped(session, booking, scope) if b.status in ("pending", "confirmed")]
    tz = settings.zone
    if body.starts_at and body.ends_at:
        with session.no_autoflush:  # checked before anything is written
            new_start, new_end = _aware(body.starts_at, tz), _aware(body.ends_at, tz)
            shift = _local(new_start, tz) - _local(booking.starts_at, tz)
            length = new_end - new_start
            checked = rules.Checked()
            roles = _roles(session, booking.holder_id)
            for b in targets:
                local = b.starts_at.astimezone(tz).replace(tzinfo=None) + shift
                b.starts_at = local.replace(tzinfo=tz)
                b.ends_at = _wall_end(b.starts_at, length, tz)
                b.blocked_until = b.ends_at + timedelta(minutes=found.buffer_minutes)
                rules.check(session, settings, found, actor, roles, b.starts_at, b.ends_at, now, checked)
            hits = [c for b in targets for c in rules.blackout_clashes(session, found.id, b.starts_at, b.ends_at)]
            ids = [b.id for b in targets]
            hits += [c for b in targets if b.status != "pending"
                     for c in clashes(session, found.id, b.seat_id, b.starts_at, b.blocked_until, ids)]
            if hits:
                session.rollback()
                raise clash_error(hits, actor)
    people = _people(session, body.participants) if body.participants is not None else None
    with _guard(session, actor, found.id, booking.seat_id, targets):
        for b in targets:
            if body.title:
                b.title = body.title
            b.updated_at = now
            changed(session, b, now, found)
        if people is not None:
            ids = [b.id for b in targets]
            session.execute(delete(Participant).where(Participant.booking_id.in_(ids)))
            session.add_all([Participant(booking_id=b.id, person_id=p) for b in targets for p in people
                             if p != b.holder_id])
        if (body.starts_at and body.ends_at) or people is not None:  # the reminders follow the new time and people
            session.flush()
            for b in targets:
                withdraw(session, f"booking:{b.id}:reminder")
                if b.status == "confirmed":
                    _remind(session, b, found, now)
    return targets


def decide(session: Session, actor: Actor, booking_id: str, approve: bool, reason: str, scope: Scope,
           now: datetime | None = None) -> tuple[list[Booking], list[Booking]]:
    """Approve (confirm, and reject the pending ones each overlaps, in this transaction) or reject."""
    now = now or utcnow()
    booking = get(session, booking_id)
    writer(session, booking.room_id)
    session.refresh(booking)
    targets = [b for b in scoped(session, booking, scope) if b.status == "pending"]
    if not targets:
        raise Conflict(f"booking {booking_id} is {booking.status}, not pending")
    found = room(session, booking.room_id)
    rejected: list[Booking] = []
    if approve:
        ids = [b.id for b in targets]
        hits = [c for b in targets for c in clashes(session, found.id, b.seat_id, b.starts_at, b.blocked_until, ids)]
        if hits:
            session.rollback()
            raise clash_error(hits, actor, "a confirmed booking holds this time")
    with _guard(session, actor, found.id, booking.seat_id, targets):
        _decided(session, actor, found, targets, approve, reason, now, rejected)
    return targets, rejected


def _decided(session: Session, actor: Actor, found: Room, targets: list[Booking], approve: bool, reason: str,
             now: datetime, rejected: list[Booking]) -> None:
    ids = [b.id for b in targets]
    if approve:
        for b in targets:
            b.status, b.decided_by, b.updated_at = "confirmed", actor.person_id, now
            changed(session, b, now, found)
            _remind(session, b, found, now)
        session.flush()
        for b in targets:
            query = select(Booking).where(Booking.room_id == found.id, Booking.status == "pending",
                                          Booking.id.not_in(ids), Booking.starts_at < b.blocked_until,
                                          Booking.blocked_until > b.starts_at)
            if b.seat_id is not None:
                query = query.where(or_(Booking.seat_id.is_(None), Booking.seat_id == b.seat_id))
            for other in session.scalars(query.with_for_update()):
                if other in rejected:
                    continue
                other.status, other.decided_by, other.updated_at = "rejected", actor.person_id, now
                other.note = _joined(other.note, f"rejected: overlaps the approved booking {b.id}")
                rejected.append(other)
                changed(session, other, now, found)
        tell(session, targets, found, "booking_approved", {"reason": reason or "-"})
        if rejected:
            tell(session, rejected, found, "booking_rejected", {"reason": "another booking was approved for this "
                                                                          "time"})
    else:
        for b in targets:
            b.status, b.decided_by, b.updated_at = "rejected", actor.person_id, now
            b.note = _joined(b.note, f"rejected: {reason}" if reason else "rejected")
            changed(session, b, now, found)
        tell(session, targets, found, "booking_rejected", {"reason": reason or "-"})


# -- effects --------------------------------------------------------------------------------------
def changed(session: Session, booking: Booking, now: datetime, found: Room | None = None) -> None:
    """Journal the booking for kiosks when it is within their window (today and tomorrow), or was sent."""
    if booking.feed_noted or booking.starts_at < now + FEED_WINDOW:
        booking.feed_noted = True
        note(session, "booking", booking.id)


def exclude_dates(session: Session, cancelled: list[Booking]) -> None:
    """Cancelled occurrences leave their series (its EXDATEs), so the calendar drops them."""
    by_series: dict[str, list[Booking]] = {}
    for b in cancelled:
        if b.series_id:
            by_series.setdefault(b.series_id, []).append(b)
    for series_id, items in by_series.items():
        series = session.get(Series, series_id)
        if series is None:
            continue
        tz = recurrence.zone(series.timezone)
        dates = set(series.exdates.get("dates", []))
        dates.update(b.starts_at.astimezone(tz).date().isoformat() for b in items)
        series.exdates = {"dates": sorted(dates)}


def _context(booking: Booking, found: Room) -> dict[str, Any]:
    return {"room": found.code, "title": booking.title, "start": iso(booking.starts_at), "end": iso(booking.ends_at)}


def tell(session: Session, bookings: list[Booking], found: Room, template: str, extra: dict[str, Any]) -> None:
    for b in bookings:
        notify(session, topic=Topic.BOOKINGS, template=template, context={**_context(b, found), **extra},
               dedupe_key=f"booking:{b.id}:{template}:{b.updated_at.timestamp():.0f}", people=[b.holder_id])


def _tell_deciders(session: Session, bookings: list[Booking], found: Room) -> None:
    first = bookings[0]
    notify(session, topic=Topic.BOOKINGS, template="booking_pending",
           context={**_context(first, found), "count": len(bookings)},
           dedupe_key=f"booking:{first.id}:pending", audience=Audience.with_roles(Role.HEAD))


def _remind(session: Session, booking: Booking, found: Room, now: datetime) -> None:
    """Queue the reminder of the holder and each participant, each at the lead time they chose (none
    for those who chose 0, or whose time has passed); the one dedupe key withdraws them all."""
    people = [booking.holder_id, *session.scalars(select(Participant.person_id)
                                                   .where(Participant.booking_id == booking.id)
                                                   .order_by(Participant.person_id))]
    by_lead: dict[int, list[str]] = {}
    for person_id, minutes in contacts.reminder_minutes(session, list(dict.fromkeys(people))).items():
        if minutes:
            by_lead.setdefault(minutes, []).append(person_id)
    for minutes, who in sorted(by_lead.items()):
        when = booking.starts_at - timedelta(minutes=minutes)
        if when <= now:
            continue
        notify(session, topic=Topic.BOOKINGS, template="booking_reminder", context=_context(booking, found),
               dedupe_key=f"booking:{booking.id}:reminder", people=who, not_before=when,
               data={"booking_id": booking.id, contacts.REMINDER_START: iso(booking.starts_at)})


def _joined(note_text: str, more: str) -> str:
    return f"{note_text}; {more}" if note_text else more


def no_shows(session: Session, since: datetime) -> list[tuple[str, str, int, int]]:
    """(number, name, released no-shows, bookings) per holder since ``since``, most no-shows first."""
    released = func.sum(case((Booking.status == "released", 1), else_=0))
    rows = session.execute(
        select(Person.number, Person.name, released, func.count(Booking.id))
        .join(Person, Person.id == Booking.holder_id)
        .where(Booking.starts_at >= since, Booking.status.in_(("released", "checked_in", "completed")))
        .group_by(Person.number, Person.name).order_by(released.desc(), Person.number))
    return [(n, m, int(r or 0), int(c)) for n, m, r, c in rows]


def week_report(session: Session, room_id: str | None, start: datetime, end: datetime,
                tz: ZoneInfo) -> list[dict[str, Any]]:
    """Per room and week (Monday, lab time): booked hours, checked-in hours, released no-shows."""
    query = select(Booking, Room.code).join(Room, Room.id == Booking.room_id).where(
        Booking.starts_at >= start, Booking.starts_at < end,
        Booking.status.in_(("confirmed", "checked_in", "completed", "released")))
    if room_id:
        query = query.where(Booking.room_id == room_id)
    weeks: dict[tuple[str, str], dict[str, Any]] = {}
    for b, code in session.execute(query):
        local = b.starts_at.astimezone(tz).date()
        monday = (local - timedelta(days=local.weekday())).isoformat()
        row = weeks.setdefault((code, monday), {"room": code, "week": monday, "booked_hours": 0.0,
                                                "checked_in_hours": 0.0, "released": 0})
        hours = (b.ends_at - b.starts_at).total_seconds() / 3600
        if b.status == "released":
            row["released"] += 1
        else:
            row["booked_hours"] += hours
        if b.checked_in_at is not None:
            row["checked_in_hours"] += hours
    return [weeks[k] for k in sorted(weeks)]


def overlapping_rows(session: Session) -> int:
    """Pairs of slot-holding bookings that overlap (the rule says 0); for tests and health checks."""
    a, b = Booking.__table__.alias("a"), Booking.__table__.alias("b")
    return int(session.scalar(select(func.count()).select_from(a).join(b, and_(
        a.c.room_id == b.c.room_id, a.c.id < b.c.id, a.c.status.in_(HOLDING), b.c.status.in_(HOLDING),
        a.c.starts_at < b.c.blocked_until, b.c.starts_at < a.c.blocked_until,
        or_(a.c.seat_id.is_(None), b.c.seat_id.is_(None), a.c.seat_id == b.c.seat_id)))) or 0)



