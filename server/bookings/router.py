"""Rooms, bookings, blackouts, calendars: thin doors to the booking services."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.orm import Session

from server.auth.dependencies import AnyRole
from server.bookings import blackouts, calendar, checkin, rules, service
from server.bookings.dependencies import Bookers, BookingId, ItemId, Managers, RoomId, ScopeQuery
from server.bookings.schemas import (
    BlackoutIn,
    BlackoutMadeOut,
    BlackoutOut,
    BookedOut,
    BookingIn,
    BookingOut,
    BookingPatch,
    CalendarIn,
    CalendarOut,
    CancelIn,
    ChangedOut,
    DecisionIn,
    NoShowOut,
    RoomIn,
    RoomOut,
    RoomPatch,
    Scope,
    SeatIn,
    SeatOut,
    SpanOut,
)
from server.bookings.tables import STATUSES, Room
from server.core.clock import LabTime, utcnow
from server.core.dependencies import SessionDep, SettingsDep

router = APIRouter(tags=["bookings"])

From = Annotated[LabTime | None, Query(alias="from", description="from this time (without a zone: UTC)")]
To = Annotated[LabTime | None, Query(alias="to", description="until this time (without a zone: UTC)")]


def _room(session: Session, found: Room) -> RoomOut:
    return RoomOut(id=found.id, code=found.code, name=found.name, capacity=found.capacity,
                   opening_hours=found.opening_hours, needs_approval=found.needs_approval,
                   check_in_required=found.check_in_required, auto_release_minutes=found.auto_release_minutes,
                   check_in_opens_minutes=found.check_in_opens_minutes, buffer_minutes=found.buffer_minutes,
                   max_ahead_days=found.max_ahead_days, min_minutes=found.min_minutes, max_minutes=found.max_minutes,
                   no_show_limit=found.no_show_limit,
                   seats=[SeatOut(id=s.id, code=s.code, name=s.name) for s in service.seats(session, found.id)],
                   kiosks=service.kiosks(session, found.code))


@router.post("/rooms", response_model=RoomOut, status_code=status.HTTP_201_CREATED)
def create_room(_: Managers, body: RoomIn, session: SessionDep) -> RoomOut:
    """A bookable room; its code is the one its door kiosks are registered with."""
    return _room(session, service.create_room(session, body))


@router.get("/rooms", response_model=list[RoomOut])
def list_rooms(_: AnyRole, session: SessionDep) -> list[RoomOut]:
    return [_room(session, r) for r in service.rooms(session)]


@router.get("/rooms/{room_id}", response_model=RoomOut)
def get_room(_: AnyRole, room_id: RoomId, session: SessionDep) -> RoomOut:
    return _room(session, service.room(session, room_id))


@router.patch("/rooms/{room_id}", response_model=RoomOut)
def update_room(_: Managers, room_id: RoomId, body: RoomPatch, session: SessionDep) -> RoomOut:
    return _room(session, service.update_room(session, room_id, body))


@router.post("/rooms/{room_id}/seats", response_model=SeatOut, status_code=status.HTTP_201_CREATED)
def add_seat(_: Managers, room_id: RoomId, body: SeatIn, session: SessionDep) -> SeatOut:
    """A workstation bookable alone; a whole-room booking excludes it, and the reverse."""
    seat = service.add_seat(session, room_id, body)
    return SeatOut(id=seat.id, code=seat.code, name=seat.name)


@router.get("/rooms/{room_id}/availability", response_model=list[SpanOut])
def availability(_: AnyRole, room_id: RoomId, session: SessionDep, start: From = None, end: To = None) -> list[SpanOut]:
    """The times held in the room (buffers included), default the next 30 days; holders are not shown."""
    first = start or utcnow()
    last = end or first + timedelta(days=30)
    return [SpanOut(starts_at=b.starts_at, ends_at=b.blocked_until, seat_id=b.seat_id, status=b.status)
            for b in service.busy(session, room_id, first, last)]


@router.post("/bookings", response_model=BookedOut, status_code=status.HTTP_201_CREATED)
def book(actor: Bookers, body: BookingIn, session: SessionDep, settings: SettingsDep) -> BookedOut:
    """Book a room or a seat, once or as a series (``rrule``). In a room that needs approval the booking
    is pending and holds no slot until the head approves it. A clash is a 409 whose ``clashes`` lists
    every clashing time (the holder only to staff and to the holder)."""
    made = service.book(session, settings, actor, body)
    return BookedOut(series_id=made.series_id, bookings=_shown(session, actor, made.bookings),
                     skipped=[{"starts_at": s, "clashes": [c.shown(actor) for c in hits]}  # type: ignore[misc]
                              for s, hits in made.skipped],
                     waived=made.waived)


def _shown(session: Session, actor: Any, bookings: Any) -> list[BookingOut]:
    return [BookingOut.model_validate(b) for b in service.described(session, actor, bookings)]


@router.get("/bookings", response_model=list[BookingOut])
def list_bookings(actor: AnyRole, session: SessionDep, start: From = None, end: To = None,
                  room_id: Annotated[str | None, Query(max_length=36)] = None,
                  status_filter: Annotated[str | None, Query(alias="status", pattern="^(" + "|".join(STATUSES) +
                                                             ")$")] = None,
                  mine: Annotated[bool, Query(description="only those I hold or take part in")] = False,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[BookingOut]:
    found = service.listing(session, actor, room_id, start, end, status_filter, mine, limit, offset)
    return _shown(session, actor, found)


@router.get("/bookings/no-shows", response_model=list[NoShowOut])
def no_shows(_: Managers, session: SessionDep, settings: SettingsDep, start: From = None) -> list[NoShowOut]:
    """Released no-shows per person since ``from`` (default: the term's start, or 120 days)."""
    since = start or rules.term_start(settings, utcnow())
    return [NoShowOut(number=n, name=m, no_shows=r, bookings=c) for n, m, r, c in service.no_shows(session, since)]


@router.get("/bookings/report.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def report(_: Managers, session: SessionDep, settings: SettingsDep, start: From = None, end: To = None,
           room_id: Annotated[str | None, Query(max_length=36)] = None) -> Response:
    """Per room and week: booked hours, checked-in hours, released no-shows (default the last 8 weeks)."""
    last = end or utcnow()
    first = start or last - timedelta(weeks=8)
    out = io.StringIO()
    writer = csv.DictWriter(out, ["room", "week", "booked_hours", "checked_in_hours", "released"])
    writer.writeheader()
    for row in service.week_report(session, room_id, first, last, settings.zone):
        writer.writerow({**row, "booked_hours": f"{row['booked_hours']:.2f}",
                         "checked_in_hours": f"{row['checked_in_hours']:.2f}"})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="bookings-report.csv"'})


@router.get("/bookings/{booking_id}", response_model=BookingOut)
def get_booking(actor: AnyRole, booking_id: BookingId, session: SessionDep) -> BookingOut:
    return _shown(session, actor, [service.get(session, booking_id)])[0]


@router.patch("/bookings/{booking_id}", response_model=ChangedOut)
def edit_booking(actor: Bookers, booking_id: BookingId, body: BookingPatch, session: SessionDep,
                 settings: SettingsDep, scope: ScopeQuery = Scope.THIS) -> ChangedOut:
    """Rename, move or change the participants of one occurrence, this and the following, or the series."""
    changed = service.edit(session, settings, actor, booking_id, scope, body)
    return ChangedOut(bookings=_shown(session, actor, changed))


@router.post("/bookings/{booking_id}:cancel", response_model=ChangedOut)
def cancel_booking(actor: Bookers, booking_id: BookingId, body: CancelIn, session: SessionDep,
                   settings: SettingsDep, scope: ScopeQuery = Scope.THIS) -> ChangedOut:
    """Cancel (the holder until some minutes after the start; the head and admins any time)."""
    changed = service.cancel(session, settings, actor, booking_id, scope, body.reason)
    return ChangedOut(bookings=_shown(session, actor, changed))


@router.post("/bookings/{booking_id}:approve", response_model=ChangedOut)
def approve(actor: Managers, booking_id: BookingId, body: DecisionIn, session: SessionDep,
            scope: ScopeQuery = Scope.THIS) -> ChangedOut:
    """Confirm a pending booking, rejecting (in the same transaction) the pending ones it overlaps."""
    approved, rejected = service.decide(session, actor, booking_id, True, body.reason, scope)
    return ChangedOut(bookings=_shown(session, actor, approved), rejected=_shown(session, actor, rejected))


@router.post("/bookings/{booking_id}:reject", response_model=ChangedOut)
def reject(actor: Managers, booking_id: BookingId, body: DecisionIn, session: SessionDep,
           scope: ScopeQuery = Scope.THIS) -> ChangedOut:
    rejected, _ = service.decide(session, actor, booking_id, False, body.reason, scope)
    return ChangedOut(bookings=_shown(session, actor, rejected))


@router.post("/bookings/{booking_id}:check-in", response_model=BookingOut)
def check_in(actor: AnyRole, booking_id: BookingId, session: SessionDep) -> BookingOut:
    """Check in through the API (marked so); the door kiosk checks in by presence without this."""
    return _shown(session, actor, [checkin.by_api(session, actor, booking_id)])[0]


@router.post("/blackouts", response_model=BlackoutMadeOut, status_code=status.HTTP_201_CREATED)
def create_blackout(actor: Managers, body: BlackoutIn, session: SessionDep, settings: SettingsDep) -> BlackoutMadeOut:
    """A period nobody may book (a holiday, an exam week; may recur). Lists the bookings it hits and
    cancels them only with ``cancel_hits``."""
    made, hits, cancelled = blackouts.create(session, settings, actor, body)
    return BlackoutMadeOut(blackout=_blackout(made), hits=_shown(session, actor, hits), cancelled=cancelled)


@router.get("/blackouts", response_model=list[BlackoutOut])
def list_blackouts(_: AnyRole, session: SessionDep,
                   room_id: Annotated[str | None, Query(max_length=36)] = None) -> list[BlackoutOut]:
    return [_blackout(b) for b in blackouts.listing(session, room_id)]


@router.delete("/blackouts/{blackout_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_blackout(_: Managers, blackout_id: ItemId, session: SessionDep) -> Response:
    blackouts.remove(session, blackout_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _blackout(b: Any) -> BlackoutOut:
    return BlackoutOut(id=b.id, room_id=b.room_id, title=b.title, starts_at=b.starts_at, ends_at=b.ends_at,
                       rrule=b.rrule, timezone=b.timezone)


@router.post("/calendars", response_model=CalendarOut, status_code=status.HTTP_201_CREATED)
def create_calendar(actor: AnyRole, body: CalendarIn, session: SessionDep, request: Request) -> CalendarOut:
    """A secret iCalendar URL for a room or a person (yourself; the head and admins anyone)."""
    row, token = calendar.create(session, actor, body.room_id, body.person)
    url = str(request.url_for("calendar_feed", token=token))
    return CalendarOut(id=row.id, url=url, room_id=row.room_id, person_id=row.person_id)


@router.delete("/calendars/{calendar_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def revoke_calendar(actor: AnyRole, calendar_id: ItemId, session: SessionDep) -> Response:
    calendar.revoke(session, actor, calendar_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/calendars/{token}.ics", name="calendar_feed", response_class=Response,
            responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}})
def calendar_feed(token: Annotated[str, Path(min_length=8, max_length=80, pattern=r"^lgc_[A-Za-z0-9_-]+$")],
                  session: SessionDep) -> Response:
    """The calendar (RFC 5545); the secret URL is the credential."""
    return Response(calendar.feed(session, token), media_type="text/calendar; charset=utf-8")


@router.post("/bookings:release-due", response_model=dict[str, int])
def release_due(_: Managers, session: SessionDep) -> dict[str, int]:
    """Run the no-show job now (it also runs by itself inside the server)."""
    result = checkin.pass_once(session)
    return {"released": result.released, "completed": result.completed, "noted": result.noted}
