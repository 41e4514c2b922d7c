"""Assistants' attendance at their practicum sessions: a photo as proof (scored against the assistant's
face templates when they consented and have some: evidence for the lecturer, not a verdict), or a
kiosk event at the session's room during the session, which counts by itself. The lecturer confirms."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from server.core.ids import new_id
from server.devices.tables import Device
from server.faces.engine import FaceProvider
from server.faces.tables import Template
from server.people.service import has_consent
from server.people.tables import Person
from server.presence.tables import Event
from server.recruitment import files, service
from server.recruitment.storage import Storage
from server.recruitment.tables import AssistantAttendance, Assistantship, Vacancy

log = logging.getLogger("labgate.recruitment")

MAX_SESSION_HOURS = 8
PRESENT = ("accept",)  # a kiosk recognised the person (face, PIN, QR or by hand)


def record(session: Session, storage: Storage, faces: FaceProvider, actor: Actor, assistantship_id: str,
           room: str, starts_at: datetime, ends_at: datetime, photo: service.Upload | None) -> AssistantAttendance:
    contract = service.assistantship(session, assistantship_id)
    if contract.person_id != actor.person_id:
        raise Forbidden("an assistant records only their own attendance")
    if contract.status != "active":
        raise Conflict("this contract has ended; no attendance can be recorded for it")
    if ends_at <= starts_at or (ends_at - starts_at).total_seconds() > MAX_SESSION_HOURS * 3600:
        raise Invalid(f"a session ends after it starts and lasts at most {MAX_SESSION_HOURS} hours",
                      [(["body", "ends_at"], "after starts_at, within 8 hours")])
    row = AssistantAttendance(id=new_id(), assistantship_id=contract.id, room=room, starts_at=starts_at,
                              ends_at=ends_at, source="photo", photo_key=None, photo_sha256=None, face_score=None,
                              kiosk_event_id=None, confirmed_by=None, confirmed_at=None, recorded_at=utcnow())
    if photo is None:
        event = _kiosk_event(session, actor.number, room, starts_at, ends_at)
        if event is None:
            raise Invalid(f"no kiosk event of {actor.number} at {room} during the session; send a photo as proof",
                          [(["body", "photo"], "required without a kiosk event")])
        row.source, row.kiosk_event_id = "kiosk", event
    else:
        checked = files.inspect(photo.data, photo.filename, "the photo", allow_pdf=False)
        row.face_score = _face_score(session, faces, contract.person_id, photo.data)
        row.photo_key = storage.put("photos", photo.data, checked.suffix)
        row.photo_sha256 = hashlib.sha256(photo.data).hexdigest()
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if row.photo_key:
            storage.delete(row.photo_key)
        raise Conflict("attendance for this session is already recorded") from exc
    return row


def confirm(session: Session, actor: Actor, attendance_id: str) -> AssistantAttendance:
    row = session.get(AssistantAttendance, attendance_id)
    if row is None:
        raise NotFound(f"no attendance record {attendance_id}")
    contract = service.assistantship(session, row.assistantship_id)
    service.runs(session, actor, contract.vacancy_id)
    if row.confirmed_at is None:
        row.confirmed_by, row.confirmed_at = actor.person_id, utcnow()
        session.commit()
    return row


def listed(session: Session, actor: Actor, assistantship_id: str) -> list[AssistantAttendance]:
    contract = service.assistantship(session, assistantship_id)
    if not (actor.role == Role.ASSISTANT.value and contract.person_id == actor.person_id):
        service.runs(session, actor, contract.vacancy_id)
    return list(session.scalars(select(AssistantAttendance).where(
        AssistantAttendance.assistantship_id == contract.id).order_by(AssistantAttendance.starts_at)))


def photo(session: Session, storage: Storage, actor: Actor, attendance_id: str) -> bytes:
    row = session.get(AssistantAttendance, attendance_id)
    if row is None or row.photo_key is None:
        raise NotFound(f"no attendance photo {attendance_id}")
    contract = service.assistantship(session, row.assistantship_id)
    if contract.person_id != actor.person_id:
        service.runs(session, actor, contract.vacancy_id)
    return storage.get(row.photo_key)


def export(session: Session, actor: Actor, vacancy_id: str) -> str:
    """CSV of every attendance record of a vacancy's assistants."""
    service.vacancy(session, vacancy_id)
    service.runs(session, actor, vacancy_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "name", "course", "period", "room", "starts_at", "ends_at", "source", "face_score",
                     "confirmed", "confirmed_at"])
    rows = session.execute(
        select(AssistantAttendance, Person.number, Person.name, Vacancy.course_code, Vacancy.period)
        .join(Assistantship, Assistantship.id == AssistantAttendance.assistantship_id)
        .join(Person, Person.id == Assistantship.person_id).join(Vacancy, Vacancy.id == Assistantship.vacancy_id)
        .where(Assistantship.vacancy_id == vacancy_id).order_by(Person.number, AssistantAttendance.starts_at))
    for row, number, name, course, period in rows:
        writer.writerow([number, _cell(name), course, period, row.room, row.starts_at.isoformat(),
                         row.ends_at.isoformat(), row.source, "" if row.face_score is None else f"{row.face_score:.4f}",
                         "yes" if row.confirmed_at else "no", row.confirmed_at.isoformat() if row.confirmed_at else ""])
    return out.getvalue()


def sessions_attended(session: Session, assistantship_id: str) -> int:
    return len(session.scalars(select(AssistantAttendance.id).where(
        AssistantAttendance.assistantship_id == assistantship_id,
        AssistantAttendance.confirmed_at.is_not(None))).all())


def _cell(text: str) -> str:
    """A spreadsheet never runs a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _kiosk_event(session: Session, number: str, room: str, starts_at: datetime, ends_at: datetime) -> str | None:
    return session.scalar(select(Event.event_id).join(Device, Device.id == Event.device_id).where(
        Event.person_number == number, Device.room == room, Event.captured_at >= starts_at,
        Event.captured_at <= ends_at, Event.outcome.in_(PRESENT)).limit(1))


def _face_score(session: Session, faces: FaceProvider, person_id: str, data: bytes) -> float | None:
    """The photo's best similarity to the person's templates, or None (no consent, no templates, no face,
    or the face API off)."""
    if not has_consent(session, person_id, "face_recognition"):
        return None
    try:
        engine = faces.engine()
        vectors = [np.frombuffer(v, dtype="<f4") for v in session.scalars(select(Template.vector).where(
            Template.person_id == person_id, Template.model_id == engine.model_id))]
        if not vectors:
            return None
        import cv2

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        with faces.turn():
            result = engine.embed_photo(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if result.embedding is None:
            return None
        return round(float(np.max(np.stack(vectors) @ np.asarray(result.embedding, np.float32))), 4)
    except (ServiceError, Exception) as exc:  # evidence only: no score is better than no attendance
        log.info("event=assistant_photo_unscored reason=%s", type(exc).__name__)
        return None
