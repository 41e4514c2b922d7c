"""Attendance: who was present on which day of the lab's calendar, from kiosk accepts, with manual
corrections (a reason required, audited) taking precedence. Also the CSV export and the event list."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import EARLIEST, LATEST, in_range, iso, utcnow
from server.core.errors import Invalid
from server.core.ids import new_id
from server.people import service as people
from server.people.tables import Person
from server.presence.tables import AttendanceCorrection, Event

MAX_DAYS = 366


@dataclass
class Day:
    day: date
    person_id: str
    number: str
    name: str
    present: bool
    first_seen: datetime | None
    last_seen: datetime | None
    events: int
    clock_suspect: bool
    source: str
    reason: str | None


def days(session: Session, zone: ZoneInfo, start: date, end: date, person_id: str | None = None) -> list[Day]:
    """One row per person and day with an accepted kiosk event or a correction, in [start, end]."""
    for name, given in (("from", start), ("to", end)):
        if not in_range(given):
            raise Invalid(f"'{name}' ({given}) must be from {EARLIEST} to {LATEST}",
                          [(["query", name], "out of range")])
    if end < start:
        raise Invalid(f"'to' ({end}) is before 'from' ({start})", [(["query", "to"], "before from")])
    if (end - start).days >= MAX_DAYS:
        raise Invalid(f"at most {MAX_DAYS} days at once; {start}..{end} is {(end - start).days + 1}",
                      [(["query", "to"], f"more than {MAX_DAYS} days after from")])
    low = datetime.combine(start, time(0), zone).astimezone(UTC)
    high = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    query = (select(Person.id, Person.number, Person.name, Event.captured_at, Event.clock_suspect)
             .join(Person, Person.number == Event.person_number)
             .where(Event.outcome == "accept", Event.captured_at >= low, Event.captured_at < high))
    if person_id:
        query = query.where(Person.id == person_id)
    found: dict[tuple[str, date], Day] = {}
    for pid, number, name, at, suspect in session.execute(query):
        key = (pid, at.astimezone(zone).date())
        day = found.get(key)
        if day is None:
            found[key] = Day(key[1], pid, number, name, True, at, at, 1, suspect, "kiosk", None)
            continue
        day.first_seen, day.last_seen = min(day.first_seen or at, at), max(day.last_seen or at, at)
        day.events += 1
        day.clock_suspect = day.clock_suspect or suspect
    _apply_corrections(session, found, start, end, person_id)
    return sorted(found.values(), key=lambda d: (d.day, d.number))


def _apply_corrections(session: Session, found: dict[tuple[str, date], Day], start: date, end: date,
                       person_id: str | None) -> None:
    query = (select(AttendanceCorrection, Person.number, Person.name)
             .join(Person, Person.id == AttendanceCorrection.person_id)
             .where(AttendanceCorrection.day >= start, AttendanceCorrection.day <= end)
             .order_by(AttendanceCorrection.corrected_at, AttendanceCorrection.id))
    if person_id:
        query = query.where(AttendanceCorrection.person_id == person_id)
    for correction, number, name in session.execute(query):  # oldest first: the newest one wins
        key = (correction.person_id, correction.day)
        day = found.get(key) or Day(correction.day, correction.person_id, number, name, False, None, None, 0, False,
                                    "correction", None)
        day.present, day.source, day.reason = correction.present, "correction", correction.reason
        found[key] = day


def correct(session: Session, actor: Actor, zone: ZoneInfo, person_id: str, day: date, present: bool,
            reason: str) -> AttendanceCorrection:
    person = people.get(session, person_id)
    today = utcnow().astimezone(zone).date()
    if day > today:
        raise Invalid(f"{day} is in the future (today is {today} in {zone.key}); correct only past days",
                      [(["body", "day"], "in the future")])
    correction = AttendanceCorrection(id=new_id(), person_id=person.id, day=day, present=present,
                                      reason=reason.strip(), corrected_by=actor.person_id, corrected_at=utcnow())
    session.add(correction)
    audit.record(session, actor, "attendance.correct", "person", person.id, day=day.isoformat(), present=present,
                 reason=correction.reason)
    session.commit()
    return correction


def to_csv(rows: list[Day]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "number", "name", "present", "first_seen", "last_seen", "events", "source", "reason",
                     "clock_suspect"])
    for d in rows:
        writer.writerow([d.day.isoformat(), d.number, _cell(d.name), "yes" if d.present else "no",
                         iso(d.first_seen) if d.first_seen else "", iso(d.last_seen) if d.last_seen else "",
                         d.events, d.source, _cell(d.reason or ""), "yes" if d.clock_suspect else "no"])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def events(session: Session, device_id: str | None, number: str | None, unknown_numbers: bool,
           since: datetime | None, offset: int, limit: int) -> Sequence[Event]:
    query = select(Event).order_by(Event.captured_at.desc(), Event.device_id, Event.seq).offset(offset).limit(limit)
    if device_id:
        query = query.where(Event.device_id == device_id)
    if number:
        query = query.where(Event.person_number == number)
    if unknown_numbers:
        query = query.where(Event.number_known.is_(False))
    if since:
        query = query.where(Event.captured_at >= since)
    return session.scalars(query).all()
