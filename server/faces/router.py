"""Photos to templates, templates per person, and identification of a photo."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile, status
from starlette.concurrency import run_in_threadpool

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep, SettingsDep
from server.core.uploads import read_limited
from server.faces import service
from server.faces.engine import FaceProvider
from server.faces.schemas import EnrolledOut, IdentifyOut, MatchOut, TemplateOut
from server.faces.tables import Template

router = APIRouter(tags=["faces"])

Enrollers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN))]
PersonId = Annotated[str, Path(min_length=1, max_length=64)]
PHOTO = File(description="one photo of the person's face: JPEG, PNG, WebP or BMP")


async def get_faces(request: Request) -> FaceProvider:
    faces: FaceProvider = request.app.state.faces
    return faces


FacesDep = Annotated[FaceProvider, Depends(get_faces)]


def _out(template: Template) -> TemplateOut:
    return TemplateOut(id=template.id, person_id=template.person_id, model_id=template.model_id,
                       quality=template.quality, source=template.source, photo_stored=template.photo_path is not None,
                       created_at=template.created_at)


@router.post("/people/{person_id}/photos", response_model=EnrolledOut, status_code=status.HTTP_201_CREATED)
async def upload_photo(person_id: PersonId, actor: Enrollers, session: SessionDep, settings: SettingsDep,
                       faces: FacesDep, photo: Annotated[UploadFile, PHOTO]) -> EnrolledOut:
    """Turn a photo into a face template for the server's model (kiosks get it through the feed).
    Refused with a clear 4xx: no consent, wrong type, too big, corrupt, a decompression bomb, no face,
    a failed quality gate, or a face already enrolled under another number. The photo itself is kept
    only with LABGATE_STORE_PHOTOS and the person's photo_storage consent."""
    data = await read_limited(photo, settings.photo_max_bytes, "the photo")
    enrolled = await run_in_threadpool(service.enrol, session, faces, settings, actor, person_id, data,
                                photo.filename or "", photo.content_type)
    return EnrolledOut(**_out(enrolled.template).model_dump(), measures=enrolled.measures)


@router.get("/people/{person_id}/templates", response_model=list[TemplateOut])
def list_templates(person_id: PersonId, _: Enrollers, session: SessionDep) -> list[TemplateOut]:
    return [_out(t) for t in service.templates(session, person_id)]


@router.delete("/people/{person_id}/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(person_id: PersonId, template_id: Annotated[str, Path(min_length=1, max_length=64)],
                    actor: Enrollers, session: SessionDep) -> None:
    """Delete one template (a poor photo); kiosks drop it through the feed's removed_templates."""
    service.delete_template(session, actor, person_id, template_id)


@router.post("/faces:identify", response_model=IdentifyOut)
async def identify(_: Enrollers, session: SessionDep, settings: SettingsDep, faces: FacesDep,
                   photo: Annotated[UploadFile, PHOTO],
                   top: Annotated[int, Query(ge=1, le=20, description="how many best people to list")] = 5,
                   ) -> IdentifyOut:
    """Who is in this photo: the best matches among all templates and the open-set decision."""
    data = await read_limited(photo, settings.photo_max_bytes, "the photo")
    found = await run_in_threadpool(service.identify, session, faces, settings, data, photo.filename or "",
                             photo.content_type, top)
    matches = [MatchOut(person_id=p.id, number=p.number, name=p.name, score=round(s, 4)) for p, s in found.matches]
    accepted = next((m for m in matches if m.person_id == found.decision.person), None)
    return IdentifyOut(outcome=found.decision.outcome.value, person=accepted,  # type: ignore[arg-type]
                       score=round(found.decision.score, 4), margin=round(found.decision.margin, 4), matches=matches,
                       model_id=found.model_id, thresholds=found.thresholds, quality=found.quality)

