"""The bookings pages: a week of what is free in a room (or at one of its seats) to book from, one's own
bookings with cancel and a calendar link, a practicum series previewed with each date's clashes before
it is booked, room calendars, and for the head and admins the approvals queue and the no-shows. Each
calls the service its API operation calls (``service.book``, ``service.preview`` reads the same plan),
for the roles that operation allows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from pydantic import ValidationError

from server.auth.actor import Actor
from server.bookings import calendar, rules, service
from server.bookings.schemas import BookingIn, Scope
from server.bookings.tables import Booking, Room
from server.core.clock import LabDay, in_range, utcnow
from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import Invalid, ServiceError
from server.core.problems import status_of
from server.core.settings import Settings
from server.web.access import Checked, PageRoute, allowed, may
from server.web.rendering import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SLOT = timedelta(hours=1)
ALL_DAY = (7, 21)  # the hours a room without opening hours shows in its week
MAX_WEEKS = 30  # the longest series the form offers (a semester and its exam weeks)
Id = Annotated[str, Query(max_length=36)]
BookingPath = Annotated[str, Path(min_length=1, max_length=36)]
Week = Annotated[LabDay | None, Query()]
Clock = Annotated[str, Query(max_length=5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


@dataclass(frozen=True)
class Slot:
    """An hour of the week view: ``free`` (bookable), ``booked``, ``closed`` (opening hours, a
    blackout) or ``past``."""
    start: datetime
    state: str


# -- the week of a room ---------------------------------------------------------------------------------
def _monday(settings: Settings, day: date | None) -> date:
    day = day or utcnow().astimezone(settings.zone).date()
    return day - timedelta(days=day.weekday())


def _hours(found: Room) -> range:
    spans = list((found.opening_hours or {}).values())
    if not spans:
        return range(*ALL_DAY)
    opens = min(int(s[0][:2]) for s in spans)
    closes = max(int(s[1][:2]) + (s[1][3:] != "00") for s in spans)
    return range(opens, closes)


def _week(session: SessionDep, settings: Settings, found: Room, seat_id: str | None,
          monday: date) -> list[tuple[date, list[Slot]]]:
    """Each day of the week with its hours and what each is; a seat is taken by a booking of it or of
    the whole room, the whole room by any booking (the database's rule)."""
    tz, now = settings.zone, utcnow()
    first = datetime.combine(monday, time(0), tzinfo=tz)
    last = first + timedelta(days=7)
    held = [b for b in service.busy(session, found.id, first, last)
            if seat_id is None or b.seat_id in (None, seat_id)]
    closed = rules.blackout_clashes(session, found.id, first, last)
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        slots = []
        for hour in _hours(found):
            start = datetime.combine(day, time(hour), tzinfo=tz)
            end = start + SLOT
            if start < now:
                state = "past"
            elif not rules.is_open(found, start, end, settings) or any(_over(c.starts_at, c.ends_at, start, end)
                                                                        for c in closed):
                state = "closed"
            elif any(_over(b.starts_at, b.blocked_until, start, end) for b in held):
                state = "booked"
            else:
                state = "free"
            slots.append(Slot(start, state))
        days.append((day, slots))
    return days


def _over(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def _chosen(session: SessionDep, room_id: str) -> tuple[list[Room], Room | None]:
    rooms = service.rooms(session)
    return rooms, next((r for r in rooms if r.id == room_id), rooms[0] if rooms else None)


def _book_page(request: Request, actor: Actor, session: SessionDep, settings: Settings, room_id: str = "",
               seat_id: str = "", week: date | None = None, form: dict[str, str] | None = None, status: int = 200,
               problem: str | None = None) -> Response:
    rooms, found = _chosen(session, room_id)
    seats = service.seats(session, found.id) if found else []
    seat_id = seat_id if any(s.id == seat_id for s in seats) else ""
    monday = _monday(settings, week)
    return render(request, "bookings_week.html", status=status, actor=actor, rooms=rooms, room=found, seats=seats,
                  seat_id=seat_id, monday=monday, days=_week(session, settings, found, seat_id or None, monday)
                  if found else [], form=form or {}, tz=settings.zone, problem=problem,
                  previous=monday - timedelta(days=7), following=monday + timedelta(days=7))


@router.get("/bookings")
def book_page(request: Request, session: SessionDep, settings: SettingsDep,
              actor: Annotated[Actor, allowed("POST /bookings")], room: Id = "", seat: Id = "", week: Week = None,
              day: Week = None, at: Clock = "") -> Response:
    """The week view; a free hour's link comes back here with ``day`` and ``at`` to fill the form."""
    form = {}
    if day and at:
        start = datetime.combine(day, time.fromisoformat(at))
        form = {"day": day.isoformat(), "start": at, "end": (start + SLOT).strftime("%H:%M")}
    return _book_page(request, actor, session, settings, room, seat, week, form)


def _wall(day: str, clock: str, what: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock))
    except ValueError as exc:
        raise Invalid(f"the {what} is not a day and time (got {day!r} {clock!r})",
                      [(["form", what], "not a day and time")]) from exc


def _booking(room_id: str, seat_id: str, title: str, day: str, start: str, end: str, **more: Any) -> BookingIn:
    """The API's request body from a form: wall-clock times of the lab, checked by the same schema."""
    try:
        return BookingIn(room_id=room_id, seat_id=seat_id or None, title=title.strip(),
                         starts_at=_wall(day, start, "start"), ends_at=_wall(day, end, "end"), **more)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise Invalid(f"{'.'.join(str(p) for p in error.get('loc', ())) or 'form'}: {error.get('msg', 'invalid')}",
                      [(["form"], error.get("msg", "invalid"))]) from exc


@router.post("/bookings")
def book(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
         actor: Annotated[Actor, allowed("POST /bookings")], room: Annotated[str, Form(max_length=36)] = "",
         seat: Annotated[str, Form(max_length=36)] = "", title: Annotated[str, Form(max_length=200)] = "",
         day: Annotated[str, Form(max_length=10)] = "", start: Annotated[str, Form(max_length=5)] = "",
         end: Annotated[str, Form(max_length=5)] = "") -> Response:
    """POST /api/v1/bookings from the week view's form: one room or seat, one time."""
    try:
        service.book(session, settings, actor, _booking(room, seat, title, day, start, end))
    except ServiceError as exc:
        session.rollback()
        form = {"day": day, "start": start, "end": end, "title": title}
        return _book_page(request, actor, session, settings, room, seat, _day(day), form, status_of(exc), exc.detail)
    return _mine_page(request, actor, session, settings, notice="Booked.")


def _day(text: str) -> date | None:
    """The day a form sent, if it is one the pages can show a week around (2000..2100)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if in_range(day) else None


# -- one's own bookings -----------------------------------------------------------------------------------
def _mine_page(request: Request, actor: Actor, session: SessionDep, settings: Settings, status: int = 200,
               problem: str | None = None, notice: str | None = None, feed: str | None = None) -> Response:
    rows = service.listing(session, actor, None, utcnow() - timedelta(days=1), None, None, True, 200, 0)
    return render(request, "bookings_mine.html", status=status, actor=actor, problem=problem, notice=notice,
                  bookings=service.described(session, actor, rows), tz=settings.zone, feed=feed,
                  may_cancel=may(request, actor, "POST /bookings/{booking_id}:cancel"))


@router.get("/bookings/mine")
def my_bookings(request: Request, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("GET /bookings")]) -> Response:
    return _mine_page(request, actor, session, settings)


@router.post("/bookings/{booking_id}/cancel")
def cancel(request: Request, booking_id: BookingPath, _: Checked, session: SessionDep, settings: SettingsDep,
           actor: Annotated[Actor, allowed("POST /bookings/{booking_id}:cancel")],
           scope: Annotated[Scope, Form()] = Scope.THIS) -> Response:
    """POST /api/v1/bookings/{id}:cancel: this date, or every date of its series."""
    try:
        service.cancel(session, settings, actor, booking_id, scope, "")
    except ServiceError as exc:
        session.rollback()
        return _mine_page(request, actor, session, settings, status_of(exc), exc.detail)
    return _mine_page(request, actor, session, settings, notice="Cancelled.")


@router.post("/bookings/calendar")
def my_calendar(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("POST /calendars")]) -> Response:
    """POST /api/v1/calendars for oneself: a secret iCalendar address, shown once."""
    _row, token = calendar.create(session, actor, None, actor.number)
    return _mine_page(request, actor, session, settings, feed=str(request.url_for("calendar_feed", token=token)))


# -- a practicum series -----------------------------------------------------------------------------------
def _series_page(request: Request, actor: Actor, session: SessionDep, settings: Settings,
                 form: dict[str, str] | None = None, status: int = 200, problem: str | None = None,
                 **values: Any) -> Response:
    return render(request, "bookings_series.html", status=status, actor=actor, rooms=service.rooms(session),
                  form=form or {}, problem=problem, tz=settings.zone, max_weeks=MAX_WEEKS,
                  **{"planned": None, "made": None, **values})


@router.get("/bookings/series")
def series_page(request: Request, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("POST /bookings")]) -> Response:
    return _series_page(request, actor, session, settings)


Text = Annotated[str, Form(max_length=200)]


def _series(room: str, title: str, day: str, start: str, end: str, weeks: str, participants: str,
            skip: bool) -> BookingIn:
    if not re.fullmatch(r"[0-9]{1,2}", weeks) or not 1 <= int(weeks) <= MAX_WEEKS:
        raise Invalid(f"weeks is a number from 1 to {MAX_WEEKS} (got {weeks[:10]!r})",
                      [(["form", "weeks"], "out of range")])
    numbers = [n for n in participants.replace(",", " ").split() if n]
    return _booking(room, "", title, day, start, end, rrule=f"FREQ=WEEKLY;COUNT={int(weeks)}",
                    participants=numbers, skip_clashes=skip)


@router.post("/bookings/series")
def series(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
           actor: Annotated[Actor, allowed("POST /bookings")], room: Text = "", title: Text = "", day: Text = "",
           start: Text = "", end: Text = "", weeks: Text = "", participants: Annotated[str, Form(max_length=2000)] = "",
           confirm: Text = "") -> Response:
    """Without ``confirm``: every date and what is in its way (``service.preview``, nothing written).
    With it: POST /api/v1/bookings with the series, the dates that clash left out (``skip_clashes``)."""
    form = {"room": room, "title": title, "day": day, "start": start, "end": end, "weeks": weeks,
            "participants": participants}
    try:
        body = _series(room, title, day, start, end, weeks, participants, skip=True)
        if not confirm:
            planned, hits = service.preview(session, settings, actor, body)
            dates = [(s, e, [{**c.shown(actor), "starts": c.starts_at, "ends": c.ends_at} for c in hits.get(s, [])])
                     for s, e in planned.spans]
            return _series_page(request, actor, session, settings, form, planned=planned, dates=dates,
                                free=sum(1 for _s, _e, found in dates if not found))
        made = service.book(session, settings, actor, body)
    except ServiceError as exc:
        session.rollback()
        return _series_page(request, actor, session, settings, form, status_of(exc), exc.detail)
    return _series_page(request, actor, session, settings, made=service.described(session, actor, made.bookings),
                        skipped=[s for s, _hits in made.skipped], notice="Booked.")


# -- room calendars ---------------------------------------------------------------------------------------
def _rooms_page(request: Request, actor: Actor, session: SessionDep, settings: Settings, room_id: str = "",
                week: date | None = None, feed: str | None = None) -> Response:
    rooms, found = _chosen(session, room_id)
    monday = _monday(settings, week)
    first = datetime.combine(monday, time(0), tzinfo=settings.zone)
    rows: list[Booking] = []
    if found:
        rows = [b for b in service.listing(session, actor, found.id, first, first + timedelta(days=7), None, False,
                                           1000, 0) if b.status in calendar.SHOWN]
    shown = service.described(session, actor, rows)
    days = [(monday + timedelta(days=i),
             [b for b in shown if b["starts_at"].astimezone(settings.zone).date() == monday + timedelta(days=i)])
            for i in range(7)]
    return render(request, "bookings_rooms.html", actor=actor, rooms=rooms, room=found, monday=monday, days=days,
                  tz=settings.zone, feed=feed, previous=monday - timedelta(days=7),
                  following=monday + timedelta(days=7))


@router.get("/bookings/rooms")
def rooms_page(request: Request, session: SessionDep, settings: SettingsDep,
               actor: Annotated[Actor, allowed("GET /bookings")], room: Id = "", week: Week = None) -> Response:
    return _rooms_page(request, actor, session, settings, room, week)


@router.post("/bookings/rooms/calendar")
def room_calendar(request: Request, _: Checked, session: SessionDep, settings: SettingsDep,
                  actor: Annotated[Actor, allowed("POST /calendars")],
                  room: Annotated[str, Form(max_length=36)] = "") -> Response:
    """POST /api/v1/calendars for a room: its secret iCalendar address, shown once."""
    _row, token = calendar.create(session, actor, room, None)
    return _rooms_page(request, actor, session, settings, room,
                       feed=str(request.url_for("calendar_feed", token=token)))


# -- the head's: approvals and no-shows --------------------------------------------------------------------
def _approvals_page(request: Request, actor: Actor, session: SessionDep, settings: Settings, status: int = 200,
                    problem: str | None = None, notice: str | None = None,
                    decided: list[dict[str, Any]] | None = None) -> Response:
    """Pending bookings to come, a series as one request (its first date and how many)."""
    pending = service.described(session, actor, service.listing(session, actor, None, utcnow(), None, "pending",
                                                                 False, 1000, 0))
    requests: dict[str, dict[str, Any]] = {}
    for b in pending:
        key = b["series_id"] or b["id"]
        requests.setdefault(key, {**b, "dates": 0})["dates"] += 1
    return render(request, "bookings_approvals.html", status=status, actor=actor, requests=list(requests.values()),
                  tz=settings.zone, problem=problem, notice=notice, decided=decided or [])


@router.get("/admin/approvals")
def approvals_page(request: Request, session: SessionDep, settings: SettingsDep,
                   actor: Annotated[Actor, allowed("POST /bookings/{booking_id}:approve")]) -> Response:
    return _approvals_page(request, actor, session, settings)


def _decide(request: Request, actor: Actor, session: SessionDep, settings: Settings, booking_id: str,
            approve: bool, reason: str) -> Response:
    """POST /api/v1/bookings/{id}:approve or :reject, for the whole series when it is one."""
    scope = Scope.SERIES if service.get(session, booking_id).series_id else Scope.THIS
    try:
        done, rejected = service.decide(session, actor, booking_id, approve, reason.strip(), scope)
    except ServiceError as exc:
        session.rollback()
        return _approvals_page(request, actor, session, settings, status_of(exc), exc.detail)
    decided = service.described(session, actor, done + rejected)
    return _approvals_page(request, actor, session, settings, notice="Approved." if approve else "Rejected.",
                           decided=decided)


Reason = Annotated[str, Form(max_length=500)]


@router.post("/admin/approvals/{booking_id}/approve")
def approve(request: Request, booking_id: BookingPath, _: Checked, session: SessionDep, settings: SettingsDep,
            actor: Annotated[Actor, allowed("POST /bookings/{booking_id}:approve")], reason: Reason = "") -> Response:
    return _decide(request, actor, session, settings, booking_id, True, reason)


@router.post("/admin/approvals/{booking_id}/reject")
def reject(request: Request, booking_id: BookingPath, _: Checked, session: SessionDep, settings: SettingsDep,
           actor: Annotated[Actor, allowed("POST /bookings/{booking_id}:reject")], reason: Reason = "") -> Response:
    return _decide(request, actor, session, settings, booking_id, False, reason)


@router.get("/admin/no-shows")
def no_shows_page(request: Request, session: SessionDep, settings: SettingsDep,
                  actor: Annotated[Actor, allowed("GET /bookings/no-shows")],
                  start: Annotated[LabDay | None, Query(alias="from")] = None) -> Response:
    """GET /api/v1/bookings/no-shows: released no-shows per person since the term's start."""
    since = (datetime.combine(start, time(0), tzinfo=settings.zone) if start
             else rules.term_start(settings, utcnow()))
    return render(request, "bookings_no_shows.html", actor=actor, rows=service.no_shows(session, since),
                  since=since.astimezone(settings.zone).date())
