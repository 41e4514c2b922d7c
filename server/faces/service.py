"""Faces: a photo becomes a template through the same engine, quality gate and duplicate-identity check
as the kiosk's enrolment; identify a photo against every template of the server's model."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.decision import Decision
from models.duplicates import collisions
from models.engine import FaceEngine, FaceResult, NoFace
from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import utcnow
from server.core.errors import Conflict, Invalid, NotFound
from server.core.settings import Settings
from server.faces.engine import FaceProvider
from server.faces.photos import decode
from server.faces.removal import remove_templates
from server.faces.tables import Template
from server.feed import journal
from server.people import service as people
from server.people.tables import Person

log = logging.getLogger("labgate.faces")

CONSENT = "face_recognition"


@dataclass(frozen=True)
class Enrolled:
    template: Template
    measures: dict[str, float]


@dataclass(frozen=True)
class Identified:
    decision: Decision
    matches: list[tuple[Person, float]]
    model_id: str
    thresholds: dict[str, float]
    quality: str


def enrol(session: Session, faces: FaceProvider, settings: Settings, actor: Actor, person_id: str, data: bytes,
          filename: str, content_type: str | None) -> Enrolled:
    person = people.get(session, person_id)
    if not people.has_consent(session, person.id, CONSENT):
        raise Conflict(f"{person.number} has no face_recognition consent on record; record it with "
                       f"POST /api/v1/people/{person.id}/consents before uploading photos")
    rgb = decode(data, filename, content_type, settings.photo_max_pixels)
    engine = faces.engine()
    result = _embed(engine, rgb, filename)
    assert result.embedding is not None
    gallery = faces.gallery(session)
    others = {p: gallery.templates(p) for p in gallery.people if p != person.id}
    found = collisions(result.embedding, others, engine.thresholds.accept)  # the kiosk's enrolment rule
    if found:
        twin = session.get(Person, found[0].person)
        who = f"{twin.number} ({twin.name})" if twin else found[0].person
        raise Conflict(f"this face matches {who} with score {found[0].score:.3f} (τ_accept "
                       f"{engine.thresholds.accept:.3f}); one person cannot be enrolled under two numbers. "
                       f"If it is the same person, erase the duplicate first")
    template = Template(
        id=str(uuid.uuid4()), person_id=person.id, model_id=engine.model_id,
        vector=np.asarray(result.embedding, dtype="<f4").tobytes(), quality=round(float(result.face.score), 4),
        source="photo", photo_path=None, created_at=utcnow(), created_by=actor.person_id,
    )
    if settings.store_photos and people.has_consent(session, person.id, "photo_storage"):
        template.photo_path = _keep_photo(settings.photo_dir, template.id, data)
    session.add(template)
    journal.note(session, "template", template.id)
    audit.record(session, actor, "face.enrol", "person", person.id, template=template.id, model_id=engine.model_id,
                 photo_stored=template.photo_path is not None)
    session.commit()
    return Enrolled(template, {k: round(v, 4) for k, v in result.quality.measures.items()})


def identify(session: Session, faces: FaceProvider, settings: Settings, data: bytes, filename: str,
             content_type: str | None, top: int) -> Identified:
    rgb = decode(data, filename, content_type, settings.photo_max_pixels)
    engine = faces.engine()
    result = _embed(engine, rgb, filename)
    assert result.embedding is not None
    gallery = faces.gallery(session)
    decision = engine.identify(result.embedding, gallery)
    found = gallery.match(result.embedding, engine.model_id, top=top) if len(gallery) else []
    people_by_id = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([m.person for m in found])))}
    matches = [(people_by_id[m.person], m.score) for m in found if m.person in people_by_id]
    t = engine.thresholds
    return Identified(decision, matches, engine.model_id, {"accept": t.accept, "unknown": t.unknown,
                                                          "margin": t.margin}, result.quality.describe())


def templates(session: Session, person_id: str) -> Sequence[Template]:
    people.get(session, person_id)
    return session.scalars(select(Template).where(Template.person_id == person_id).order_by(Template.created_at)).all()


def delete_template(session: Session, actor: Actor, person_id: str, template_id: str) -> None:
    if remove_templates(session, person_id, template_id) == 0:
        raise NotFound(f"person {person_id} has no template {template_id}")
    audit.record(session, actor, "face.template_delete", "person", person_id, template=template_id)
    session.commit()


def _embed(engine: FaceEngine, rgb: np.ndarray, filename: str) -> FaceResult:
    name = filename or "the photo"
    try:
        result = engine.embed_photo(rgb)
    except NoFace as exc:
        raise Invalid(f"no face found in {name}; use a clear, front-facing photo of one person") from exc
    if not result.quality.ok:
        raise Invalid(f"{name} failed the quality gate: {result.quality.describe()}",
                      [(["photo", "quality"], reason) for reason in result.quality.reasons])
    return result


def _keep_photo(folder: Path, template_id: str, data: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{template_id}.img"
    path.write_bytes(data)
    return str(path)
