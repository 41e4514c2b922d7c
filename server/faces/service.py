"""Faces: a photo becomes a template by the kiosk's enrolment rules (``models.enrolment``): the same face
selection and quality gate, the photo must match the person's own templates (consistency) and must
not match anyone else's (duplicate identity); identify a photo against every template of the model."""

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
from models.enrolment import Split, fits
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
    with faces.turn():
        engine = faces.engine()
        result = _embed(engine, decode(data, filename, content_type, settings.photo_max_pixels), filename)
    assert result.embedding is not None
    gallery = faces.gallery(session)
    others = {p: gallery.templates(p) for p in gallery.people if p != person.id}
    accept = engine.thresholds_for(len(others)).accept  # τ for this gallery's size, as identify uses
    found = collisions(result.embedding, others, accept)  # the kiosk's enrolment rules
    if found:
        twin = session.get(Person, found[0].person)
        who = f"{twin.number} ({twin.name})" if twin else found[0].person
        raise Conflict(f"this face matches {who} with score {found[0].score:.3f} (τ_accept "
                       f"{accept:.3f}); one person cannot be enrolled under two numbers. "
                       f"If it is the same person, erase the duplicate first")
    own = gallery.templates(person.id) if person.id in gallery.people else np.zeros((0, 0), np.float32)
    parted = fits(result.embedding, own, settings.face_consistency)
    if parted is not None:
        raise Conflict(_not_one_person(person, len(own), parted, settings.face_consistency))
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
    with faces.turn():
        engine = faces.engine()
        result = _embed(engine, decode(data, filename, content_type, settings.photo_max_pixels), filename)
    assert result.embedding is not None
    gallery = faces.gallery(session)
    decision = engine.identify(result.embedding, gallery)
    found = gallery.match(result.embedding, engine.model_id, top=top) if len(gallery) else []
    people_by_id = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([m.person for m in found])))}
    matches = [(people_by_id[m.person], m.score) for m in found if m.person in people_by_id]
    t = engine.thresholds_for(len(gallery))  # what identify decided with: chosen for this gallery's size
    used = {"accept": t.accept, "unknown": t.unknown, "margin": t.margin, "gallery_people": float(len(gallery))}
    if t.expected_fpir is not None:
        used["expected_fpir"] = t.expected_fpir
    return Identified(decision, matches, engine.model_id, used, result.quality.describe())


def templates(session: Session, person_id: str) -> Sequence[Template]:
    people.get(session, person_id)
    return session.scalars(select(Template).where(Template.person_id == person_id).order_by(Template.created_at)).all()


def delete_template(session: Session, actor: Actor, person_id: str, template_id: str) -> None:
    if remove_templates(session, person_id, template_id) == 0:
        raise NotFound(f"person {person_id} has no template {template_id}")
    audit.record(session, actor, "face.template_delete", "person", person_id, template=template_id)
    session.commit()


def _not_one_person(person: Person, templates: int, parted: Split, threshold: float) -> str:
    """What a refused photo looks like against the person's templates (the photo is the last index)."""
    photo = templates
    if parted.second == (photo,) or parted.first == (photo,):
        return (f"this photo does not look like {person.number} ({person.name}): it matches their {templates} "
                f"enrolled template(s) {parted.similarity:.2f} on average, below the consistency threshold "
                f"{threshold:.2f}, so it shows someone else; nothing saved. If the enrolled templates are the wrong "
                f"person's, delete them first")
    apart = ", ".join(str(i + 1) for i in (parted.second if photo in parted.first else parted.first))
    return (f"{person.number}'s templates and this photo show two people (templates {apart} "
            f"match the rest {parted.similarity:.2f} on average, below {threshold:.2f}); nothing saved. Delete the "
            f"templates of the wrong person first (GET .../templates lists them, oldest first)")


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
