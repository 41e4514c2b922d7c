"""People: list, create, change, import, PINs, consent, erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile, status

from server.auth.actor import Actor
from server.auth.dependencies import allow
from server.auth.roles import Role
from server.core.dependencies import SessionDep
from server.core.responses import json_response
from server.core.uploads import read_limited
from server.people import erasure, service
from server.people.schemas import (
    ConsentIn,
    ConsentOut,
    ErasureOut,
    ImportOut,
    PeoplePage,
    PersonIn,
    PersonOut,
    PersonPatch,
    PinIn,
)

router = APIRouter(tags=["people"])

CSV_MAX_BYTES = 5_000_000
PersonId = Annotated[str, Path(min_length=1, max_length=64, description="the person's server id")]
Readers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN, Role.LECTURER))]
Managers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD))]
Enrollers = Annotated[Actor, Depends(allow(Role.ADMIN, Role.HEAD, Role.TECHNICIAN))]


@router.get("/people", response_model=PeoplePage)
def list_people(
    _: Readers, session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="part of a name, or the start of a number")] = None,
    role: Role | None = None, active: bool | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    people, total = service.search(session, q, role, active, offset, limit)
    return json_response(PeoplePage.model_validate({"items": people, "total": total, "offset": offset,
                                                    "limit": limit}))


@router.post("/people", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
def create_person(body: PersonIn, actor: Managers, session: SessionDep) -> PersonOut:
    """Add a student (NIM) or a staff member (NIP). Only an admin grants the admin role."""
    return PersonOut.of(service.create(session, actor, body))


@router.post("/people:import", response_model=ImportOut)
async def import_people(
    actor: Managers, session: SessionDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8: number,name[,kind][,roles][,active]; roles "
                                                 "separated by ';'")],
    dry_run: Annotated[bool, Query(description="check the file and count, store nothing")] = False,
) -> ImportOut:
    """Create or update people from a CSV. A single bad row refuses the whole file; the problem's
    ``errors`` name each line and column."""
    data = await read_limited(file, CSV_MAX_BYTES, "the CSV")
    created, updated, unchanged = service.import_csv(session, actor, data, dry_run)
    return ImportOut(created=created, updated=updated, unchanged=unchanged, dry_run=dry_run)


@router.get("/people/{person_id}", response_model=PersonOut)
def get_person(person_id: PersonId, _: Readers, session: SessionDep) -> Response:
    return json_response(PersonOut.model_validate(service.one(session, person_id)))


@router.patch("/people/{person_id}", response_model=PersonOut)
def update_person(person_id: PersonId, body: PersonPatch, actor: Managers, session: SessionDep) -> PersonOut:
    """Change name, kind, roles or active; deactivating signs the person out everywhere."""
    return PersonOut.of(service.update(session, actor, person_id, body))


@router.delete("/people/{person_id}", response_model=ErasureOut)
def erase_person(person_id: PersonId, actor: Managers, session: SessionDep) -> ErasureOut:
    """Erase a person: their data is deleted, their events lose the number, and a tombstone tells every
    kiosk to erase them too (see GET /api/v1/tombstones for which kiosks have)."""
    done = erasure.erase(session, actor, person_id)
    return ErasureOut(number=done.number, erased_at=done.erased_at, events_anonymised=done.events_anonymised,
                      templates_deleted=done.templates_deleted)


@router.put("/people/{person_id}/pin", status_code=status.HTTP_204_NO_CONTENT)
def set_pin(person_id: PersonId, body: PinIn, actor: Enrollers, session: SessionDep) -> None:
    """Set the PIN a person types at the kiosk (with their number) when the face is not recognised."""
    service.set_pin(session, actor, person_id, body.pin)


@router.get("/people/{person_id}/consents", response_model=list[ConsentOut])
def list_consents(person_id: PersonId, _: Enrollers, session: SessionDep) -> list[ConsentOut]:
    return [ConsentOut.model_validate(c) for c in service.consents(session, person_id)]


@router.post("/people/{person_id}/consents", response_model=ConsentOut, status_code=status.HTTP_201_CREATED)
def record_consent(person_id: PersonId, body: ConsentIn, actor: Enrollers, session: SessionDep) -> ConsentOut:
    """Record consent given or withdrawn. Face photos need face_recognition consent; withdrawing it
    deletes the person's templates here and on every kiosk."""
    return ConsentOut.model_validate(service.record_consent(session, actor, person_id, body))
