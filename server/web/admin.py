"""The staff's pages about people (search, add, CSV import, roles, consent) and kiosks (register with
its provisioning QR code, revoke). Each calls the service its API operation calls, for the same roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import NotFound, ServiceError
from server.core.problems import status_of
from server.core.uploads import read_limited
from server.devices import service as devices
from server.devices.router import server_url
from server.devices.schemas import DeviceIn
from server.faces.router import FacesDep
from server.people import service as people
from server.people.router import CSV_MAX_BYTES
from server.people.schemas import ConsentIn, PersonIn, PersonPatch, Purpose
from server.web import qrimage
from server.web.access import Checked, PageRoute, allowed, may
from server.web.rendering import render
from server.web.texts import clock

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PersonId = Annotated[str, Path(min_length=1, max_length=64)]
ROLES = [r.value for r in Role]


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"


def _people_page(request: Request, actor: Actor, session: SessionDep, q: str = "", role: str = "", offset: int = 0,
                 status: int = 200, problem: str | None = None, faults: list[str] | None = None,
                 notice: str | None = None) -> Response:
    chosen = Role(role) if role in ROLES else None
    found, total = people.search(session, q or None, chosen, None, offset, 50)
    return render(request, "admin_people.html", status=status, actor=actor, people=found, total=total, q=q,
                  role=role, offset=offset, limit=50, all_roles=ROLES, problem=problem, faults=faults or [],
                  notice=notice, may_manage=may(request, actor, "POST /people"))


@router.get("/admin/people")
def people_page(request: Request, session: SessionDep, actor: Annotated[Actor, allowed("GET /people")],
                q: Annotated[str, Query(max_length=100)] = "", role: Annotated[str, Query(max_length=16)] = "",
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    return _people_page(request, actor, session, q, role, offset)


@router.post("/admin/people")
def add_person(request: Request, _: Checked, session: SessionDep, actor: Annotated[Actor, allowed("POST /people")],
               number: Annotated[str, Form(max_length=40)] = "", name: Annotated[str, Form(max_length=200)] = "",
               kind: Annotated[str, Form(max_length=16)] = "student",
               roles: Annotated[list[str] | None, Form(max_length=6)] = None) -> Response:
    try:
        data = PersonIn(number=number.strip(), name=name, kind=kind, roles=roles or [])  # type: ignore[arg-type]
    except ValidationError as exc:
        return _people_page(request, actor, session, status=422, problem=_first_problem(exc))
    try:
        person = people.create(session, actor, data)
    except ServiceError as exc:
        session.rollback()
        return _people_page(request, actor, session, status=status_of(exc), problem=exc.detail)
    return RedirectResponse(f"/admin/people/{person.id}", status_code=303)


@router.post("/admin/people:import")
async def import_people(request: Request, _: Checked, session: SessionDep,
                        actor: Annotated[Actor, allowed("POST /people:import")],
                        file: Annotated[UploadFile | None, File()] = None,
                        dry_run: Annotated[str, Form(max_length=5)] = "") -> Response:
    """POST /api/v1/people:import from a form: the whole file or nothing, each bad line named."""
    if file is None:
        return _people_page(request, actor, session, status=422, problem="choose a CSV file")
    try:
        data = await read_limited(file, CSV_MAX_BYTES, "the CSV")
        created, updated, unchanged = people.import_csv(session, actor, data, bool(dry_run))
    except ServiceError as exc:
        session.rollback()
        return _people_page(request, actor, session, status=422, problem=exc.detail,
                            faults=[f"{' '.join(str(p) for p in loc)}: {msg}" for loc, msg in exc.errors[:20]])
    verb = "checked" if dry_run else "imported"
    return _people_page(request, actor, session,
                        notice=f"CSV {verb}: {created} new, {updated} changed, {unchanged} unchanged")


def _person_page(request: Request, actor: Actor, session: SessionDep, person_id: str, settings: SettingsDep,
                 status: int = 200, problem: str | None = None, notice: str | None = None) -> Response:
    subject = people.get(session, person_id)
    may_consent = may(request, actor, "GET /people/{person_id}/consents")
    return render(request, "admin_person.html", status=status, actor=actor, subject=subject, all_roles=ROLES,
                  consents=people.consents(session, person_id) if may_consent else [],
                  purposes=[p.value for p in Purpose], may_manage=may(request, actor, "PATCH /people/{person_id}"),
                  may_consent=may_consent and may(request, actor, "POST /people/{person_id}/consents"),
                  clock=clock(settings.zone), problem=problem, notice=notice)


@router.get("/admin/people/{person_id}")
def person_page(request: Request, person_id: PersonId, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("GET /people/{person_id}")]) -> Response:
    return _person_page(request, actor, session, person_id, settings)


@router.post("/admin/people/{person_id}")
def change_person(request: Request, person_id: PersonId, _: Checked, session: SessionDep, settings: SettingsDep,
                  actor: Annotated[Actor, allowed("PATCH /people/{person_id}")],
                  roles: Annotated[list[str] | None, Form(max_length=6)] = None,
                  active: Annotated[str, Form(max_length=5)] = "") -> Response:
    """PATCH /api/v1/people/{id}: roles and active, with its rules (only an admin makes or changes an
    admin; the last active admin stays)."""
    try:
        patch = PersonPatch(roles=roles or [], active=bool(active))  # type: ignore[arg-type]
        people.update(session, actor, person_id, patch)
    except ValidationError as exc:
        return _person_page(request, actor, session, person_id, settings, 422, _first_problem(exc))
    except NotFound:
        raise
    except ServiceError as exc:
        session.rollback()
        return _person_page(request, actor, session, person_id, settings, status_of(exc), exc.detail)
    return _person_page(request, actor, session, person_id, settings, notice="Saved.")


@router.post("/admin/people/{person_id}/consents")
def record_consent(request: Request, person_id: PersonId, _: Checked, session: SessionDep, settings: SettingsDep,
                   actor: Annotated[Actor, allowed("POST /people/{person_id}/consents")],
                   purpose: Annotated[str, Form(max_length=32)] = "",
                   granted: Annotated[str, Form(max_length=1)] = "1",
                   note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        data = ConsentIn(purpose=purpose, granted=granted == "1", note=note)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _person_page(request, actor, session, person_id, settings, 422, _first_problem(exc))
    people.record_consent(session, actor, person_id, data)
    return _person_page(request, actor, session, person_id, settings, notice="Saved.")


def _kiosks_page(request: Request, actor: Actor, session: SessionDep, settings: SettingsDep, status: int = 200,
                 problem: str | None = None, provisioned: dict[str, object] | None = None,
                 notice: str | None = None) -> Response:
    return render(request, "admin_kiosks.html", status=status, actor=actor,
                  devices=devices.listing(session, None, True), clock=clock(settings.zone), problem=problem,
                  provisioned=provisioned, notice=notice, may_register=may(request, actor, "POST /devices"),
                  may_revoke=may(request, actor, "POST /devices/{device_id}:revoke"))


@router.get("/admin/kiosks")
def kiosks_page(request: Request, session: SessionDep, settings: SettingsDep,
                actor: Annotated[Actor, allowed("GET /devices")]) -> Response:
    return _kiosks_page(request, actor, session, settings)


@router.post("/admin/kiosks")
def register_kiosk(request: Request, _: Checked, session: SessionDep, settings: SettingsDep, faces: FacesDep,
                   actor: Annotated[Actor, allowed("POST /devices")], name: Annotated[str, Form(max_length=100)] = "",
                   room: Annotated[str, Form(max_length=64)] = "") -> Response:
    """POST /api/v1/devices from a form; the provisioning payload is shown once, as a QR code."""
    try:
        data = DeviceIn(name=name, room=room.strip())
    except ValidationError as exc:
        return _kiosks_page(request, actor, session, settings, 422, _first_problem(exc))
    device, _token, payload = devices.register(session, actor, data, server_url(request, settings.public_url),
                                               faces.model_id(), settings.provisioning_token_hours)
    assert device.provision_expires_at is not None
    image, size = qrimage.data_uri(payload)
    shown = {"name": device.name, "image": image, "size": size, "payload": payload,
             "expires_iso": device.provision_expires_at.isoformat(),
             "expires": clock(settings.zone)(device.provision_expires_at)}
    return _kiosks_page(request, actor, session, settings, provisioned=shown)


@router.post("/admin/kiosks/{device_id}/revoke")
def revoke_kiosk(request: Request, device_id: PersonId, _: Checked, session: SessionDep, settings: SettingsDep,
                 actor: Annotated[Actor, allowed("POST /devices/{device_id}:revoke")]) -> Response:
    device = devices.revoke(session, actor, device_id)
    return _kiosks_page(request, actor, session, settings, notice=f"{device.name}: revoked")

