"""Pages of the changes feed for one kiosk: the current state of everything changed after its cursor.

The journal numbers changes in commit order; a page is the next ``limit`` journal rows, each turned
into the row's state now (so a person changed three times appears once, as they are). Templates of
other models than the device's, and rows deleted since, are skipped but still move the cursor.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.bookings.tables import HOLDING, Booking, Participant, Room
from server.core.clock import iso, utcnow
from server.devices.tables import Device, DeviceCommand
from server.faces.tables import Template
from server.feed import cursor as cursors
from server.feed.tables import FeedChange
from server.people.tables import Person, Tombstone


@dataclass
class Page:
    next_cursor: str
    has_more: bool
    people: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    removed_templates: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    bookings: list[dict[str, Any]] = field(default_factory=list)


def page(session: Session, device: Device, cursor: str | None, limit: int) -> Page:
    start = cursors.parse(cursor)
    rows = session.scalars(select(FeedChange).where(FeedChange.seq > start).order_by(FeedChange.seq)
                           .limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    refs: dict[str, list[str]] = {}
    for row in rows:
        refs.setdefault(row.kind, [])
        if row.ref not in refs[row.kind]:
            refs[row.kind].append(row.ref)
    result = Page(cursors.render(rows[-1].seq if rows else start), has_more)
    people = {p.id: p for p in _load(session, Person, Person.id, refs.get("person", []))}
    result.people = [_person(people[i]) for i in refs.get("person", []) if i in people]
    wanted = refs.get("template", [])
    if wanted and device.model_id:
        found = {t.id: (t, n) for t, n in session.execute(
            select(Template, Person.number).join(Person, Person.id == Template.person_id)
            .where(Template.id.in_(wanted), Template.model_id == device.model_id))}
        result.templates = [_template(*found[i]) for i in wanted if i in found]
    result.removed_templates = [{"id": i} for i in refs.get("template_removed", [])]
    stones = {str(t.id): t for t in _load(session, Tombstone, Tombstone.id,
                                          [int(i) for i in refs.get("tombstone", []) if i.isdigit()])}
    result.tombstones = [{"number": stones[i].number, "erased_at": stones[i].erased_at}
                         for i in refs.get("tombstone", []) if i in stones]
    result.bookings = _bookings(session, device, refs.get("booking", []))
    result.commands = [{"id": c.id, "kind": c.kind, "args": c.args} for c in session.scalars(
        select(DeviceCommand).where(DeviceCommand.device_id == device.id, DeviceCommand.acked_at.is_(None))
        .order_by(DeviceCommand.created_at, DeviceCommand.id))]
    return result


def erasures(session: Session, limit: int, offset: int) -> list[tuple[str, datetime, int, int]]:
    """(number, erased_at, kiosks acknowledged, kiosks pending) per tombstone, newest first."""
    positions = session.execute(
        select(Tombstone.number, Tombstone.erased_at, FeedChange.seq)
        .join(FeedChange, (FeedChange.kind == "tombstone")
              & (FeedChange.ref == func.cast(Tombstone.id, FeedChange.ref.type)))
        .order_by(Tombstone.id.desc()).offset(offset).limit(limit)).all()
    acked = [seq for (seq,) in session.execute(select(Device.acked_seq).where(Device.revoked_at.is_(None)))]
    return [(number, at, sum(a >= seq for a in acked), sum(a < seq for a in acked)) for number, at, seq in positions]


def _load(session: Session, table: Any, key: Any, ids: list[Any]) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(ids), 500):
        found.extend(session.scalars(select(table).where(key.in_(ids[start:start + 500]))))
    return found


def _bookings(session: Session, device: Device, ids: list[str]) -> list[dict[str, Any]]:
    """The device's room's bookings among ``ids``, as the kiosk keeps them: those of today and tomorrow
    that hold the room, and the ones that stopped holding it (removed). Others wait for their window."""
    if not ids:
        return []
    now = utcnow()
    found = session.execute(select(Booking, Person.number, Person.name).join(Room, Room.id == Booking.room_id)
                            .join(Person, Person.id == Booking.holder_id)
                            .where(Booking.id.in_(ids), Room.code == device.room)).all()
    parts: dict[str, list[str]] = {}
    for booking_id, number in session.execute(select(Participant.booking_id, Person.number)
                                              .join(Person, Person.id == Participant.person_id)
                                              .where(Participant.booking_id.in_([b.id for b, _, _ in found]))):
        parts.setdefault(booking_id, []).append(number)
    rooms = dict(session.execute(select(Room.id, Room.check_in_opens_minutes)).all())
    out: list[dict[str, Any]] = []
    for booking, number, name in sorted(found, key=lambda row: row[0].starts_at):
        if booking.status not in HOLDING:
            out.append({"id": booking.id, "status": booking.status, "removed": True})
            continue
        if booking.starts_at >= now + timedelta(days=2):
            continue
        opens = booking.starts_at - timedelta(minutes=rooms.get(booking.room_id, 0))
        out.append({"id": booking.id, "room": device.room, "title": booking.title, "holder": name,
                    "holder_number": number, "participants": sorted(parts.get(booking.id, [])),
                    "starts_at": iso(booking.starts_at), "ends_at": iso(booking.ends_at),
                    "check_in_from": iso(opens), "status": booking.status})
    return out


def _person(person: Person) -> dict[str, Any]:
    return {"id": person.id, "number": person.number, "name": person.name, "roles": person.role_names,
            "active": person.active, "pin_hash": person.pin_hash, "version": person.version}


def _template(template: Template, number: str) -> dict[str, Any]:
    return {"id": template.id, "number": number, "model_id": template.model_id,
            "vector": base64.b64encode(template.vector).decode(), "quality": template.quality}
