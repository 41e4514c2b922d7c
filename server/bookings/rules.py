"""The rules a booking must pass besides the overlap: length, notice, how far ahead, opening hours,
blackouts, a student's weekly hours, approval after no-shows. Admins are exempt where it makes sense
(notice, horizon, opening hours, quota); what was waived is recorded and returned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.auth.roles import Role
from server.bookings import recurrence
from server.bookings.clash import Clash
from server.bookings.tables import HOLDING, Blackout, Booking, Room
from server.core.errors import Invalid
from server.core.settings import Settings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TERM_DEFAULT = timedelta(days=120)


@dataclass
class Checked:
    waived: list[str] = field(default_factory=list)

    def waive(self, rule: str) -> None:
        if rule not in self.waived:
            self.waived.append(rule)


def check(session: Session, settings: Settings, room: Room, actor: Actor, holder_roles: set[str], start: datetime,
          end: datetime, now: datetime, checked: Checked) -> None:
    minutes = (end - start).total_seconds() / 60
    if minutes < room.min_minutes or minutes > room.max_minutes:
        raise Invalid(f"a booking of room {room.code} lasts {room.min_minutes} to {room.max_minutes} minutes "
                      f"(got {minutes:.0f})", [(["body", "ends_at"], "length outside the room's limits")])
    exempt = actor.role == Role.ADMIN
    if start < now + timedelta(minutes=settings.booking_min_notice_minutes) and end <= now:
        raise Invalid("the booking is in the past", [(["body", "starts_at"], "in the past")])
    if start < now + timedelta(minutes=settings.booking_min_notice_minutes):
        if not exempt:
            raise Invalid(f"book at least {settings.booking_min_notice_minutes} minutes ahead",
                          [(["body", "starts_at"], "too short notice")])
        checked.waive("minimum notice")
    if start > now + timedelta(days=room.max_ahead_days):
        if not exempt:
            raise Invalid(f"room {room.code} can be booked at most {room.max_ahead_days} days ahead",
                          [(["body", "starts_at"], "too far ahead")])
        checked.waive("booking horizon")
    if not is_open(room, start, end, settings):
        if not exempt:
            raise Invalid(f"room {room.code} is not open for the whole booking "
                          f"({start.astimezone(settings.zone):%a %H:%M}..{end.astimezone(settings.zone):%H:%M} "
                          f"{settings.timezone}); opening hours: {room.opening_hours}",
                          [(["body", "starts_at"], "outside opening hours")])
        checked.waive("opening hours")


def is_open(room: Room, start: datetime, end: datetime, settings: Settings) -> bool:
    """Is the room open for the whole of [start, end) (a room without opening hours always is)?"""
    hours = room.opening_hours
    if hours is None:
        return True
    local_start, local_end = start.astimezone(settings.zone), end.astimezone(settings.zone)
    if local_start.date() != local_end.date() and local_end.time().isoformat() != "00:00:00":
        return False
    span = hours.get(WEEKDAYS[local_start.weekday()])
    if not span:
        return False
    closes = local_end.strftime("%H:%M") if local_end.date() == local_start.date() else "24:00"
    return span[0] <= local_start.strftime("%H:%M") and closes <= span[1]


def quota(session: Session, settings: Settings, actor: Actor, holder_id: str, holder_roles: set[str],
          spans: list[tuple[datetime, datetime]], checked: Checked) -> None:
    """A student's booked hours per week (Monday 00:00 lab time), counting what they hold already."""
    if Role.STUDENT not in holder_roles or holder_roles & {Role.ADMIN, Role.HEAD, Role.LECTURER, Role.TECHNICIAN,
                                                          Role.ASSISTANT}:
        return
    limit = settings.booking_student_hours_per_week
    tz = settings.zone
    weeks: dict[datetime, float] = {}
    for start, end in spans:
        local = start.astimezone(tz)
        monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        weeks[monday] = weeks.get(monday, 0.0) + (end - start).total_seconds() / 3600
    for monday, hours in weeks.items():
        held = session.scalars(select(Booking).where(
            Booking.holder_id == holder_id, Booking.status.in_((*HOLDING, "pending")),
            Booking.starts_at >= monday, Booking.starts_at < monday + timedelta(days=7))).all()
        total = hours + sum((b.ends_at - b.starts_at).total_seconds() / 3600 for b in held)
        if total > limit:
            if actor.role in (Role.ADMIN, Role.HEAD):
                checked.waive("weekly hours")
                continue
            raise Invalid(f"a student books at most {limit:g} hours a week; the week of {monday.date()} would "
                          f"hold {total:g}", [(["body", "ends_at"], "weekly hours exceeded")])


def needs_approval_for_no_shows(session: Session, settings: Settings, room: Room, holder_roles: set[str],
                                holder_id: str, now: datetime) -> bool:
    if room.no_show_limit is None or Role.STUDENT not in holder_roles:
        return False
    count = session.scalar(select(func.count()).select_from(Booking).where(
        Booking.holder_id == holder_id, Booking.status == "released",
        Booking.starts_at >= term_start(settings, now))) or 0
    return count >= room.no_show_limit


def term_start(settings: Settings, now: datetime) -> datetime:
    """Where the term's no-shows are counted from: its configured start, else ``TERM_DEFAULT`` ago."""
    if settings.booking_term_start:
        return datetime.combine(settings.booking_term_start, datetime.min.time(), tzinfo=settings.zone)
    return now - TERM_DEFAULT


def blackout_spans(blackout: Blackout, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The blackout's periods (its recurrences too) that overlap [start, end)."""
    length = blackout.ends_at - blackout.starts_at
    if not blackout.rrule:
        firsts = [blackout.starts_at]
    else:
        tz = recurrence.zone(blackout.timezone)
        try:
            firsts = recurrence.expand(blackout.rrule, blackout.starts_at, tz, end, strict=False)
        except recurrence.RuleProblem:  # checked when it was made; an old rule no longer read stays one period
            firsts = [blackout.starts_at]
    return [(s, s + length) for s in firsts if s < end and s + length > start]


def blackout_clashes(session: Session, room_id: str, start: datetime, end: datetime) -> list[Clash]:
    found: list[Clash] = []
    query = select(Blackout).where(or_(Blackout.room_id.is_(None), Blackout.room_id == room_id),
                                   Blackout.starts_at < end, or_(Blackout.rrule.is_not(None), Blackout.ends_at > start))
    for blackout in session.scalars(query):
        found.extend(Clash(s, e, "blackout", title=blackout.title) for s, e in blackout_spans(blackout, start, end))
    return found
