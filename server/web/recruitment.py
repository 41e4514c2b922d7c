"""Recruitment's pages: vacancies as cards and the application form (students), the transcript check on
one's own applications, running a vacancy (its lecturers, the head, admins: applicants with their checks
and documents, selection, activation, the assistants' attendance to confirm, contract end, certificates),
and an assistant's attendance with a photo from the phone's camera. Each page calls the service its API
operation calls and lets in the roles that operation lets in."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.auth.actor import Actor
from server.core.clock import utcnow
from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import Invalid, NotFound, ServiceError
from server.core.problems import status_of
from server.faces.router import FacesDep
from server.notifications import contacts
from server.people import service as people
from server.recruitment import attendance, certificates, service
from server.recruitment.dependencies import BaseUrlDep, StorageDep
from server.recruitment.router import (
    DeclaredIpk,
    Email,
    Room,
    Semester,
    WhatsApp,
    application_uploads,
    upload_of,
)
from server.recruitment.schemas import CertificateIn, DecisionIn, ReviewIn, VacancyIn, VacancyState, When
from server.web.access import Acting, Allowed, Checked, PageRoute, allowed, may
from server.web.rendering import render
from server.web.texts import clock

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Id = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, Form(max_length=2000)]
WHEN: TypeAdapter[datetime] = TypeAdapter(When)

# The API operations whose roles each page lets in.
VACANCIES = "GET /recruitment/vacancies"
APPLY = "POST /recruitment/vacancies/{vacancy_id}/applications"
MINE = "GET /me/applications"
WITHDRAW = "POST /recruitment/applications/{application_id}:withdraw"
CREATE = "POST /recruitment/vacancies"
RUN = "GET /recruitment/vacancies/{vacancy_id}/applications"
RECORD = "POST /recruitment/assistantships/{assistantship_id}/attendance"
ACTIVATE = "POST /recruitment/applications/{application_id}:activate"
CERTIFY = "POST /recruitment/assistantships/{assistantship_id}/certificate"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """A time as a datetime-local field shows it: the lab's wall clock, to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _moment(value: str, zone: ZoneInfo, field: str) -> datetime:
    """A datetime-local field (the lab's wall clock) as an aware time, within the range the API takes."""
    try:
        parsed = datetime.fromisoformat(value.strip())
        return WHEN.validate_python(parsed if parsed.tzinfo else parsed.replace(tzinfo=zone))
    except (ValueError, ValidationError) as exc:
        raise Invalid(f"{field}: {value[:40]!r} is not a date and time the lab can use",
                      [(["form", field], "a date and time")]) from exc


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"


def _chosen(file: UploadFile | None) -> bool:
    """A file input left empty still sends a part, with no name and no bytes."""
    return file is not None and bool(file.filename or file.size)


# Vacancies and applying (students; everyone reads the vacancies)


@router.get("/vacancies")
def vacancies_page(request: Request, session: SessionDep, settings: SettingsDep,
                   actor: Annotated[Actor, allowed(VACANCIES)]) -> Response:
    found = service.visible_vacancies(session, actor)
    applied = {a.vacancy_id for a in service.my_applications(session, actor)} if may(request, actor, APPLY) else set()
    running = {v.id for v in found if service.may_run(session, actor, v.id)} if may(request, actor, RUN) else set()
    return render(request, "recruit_vacancies.html", actor=actor, vacancies=found, applied=applied, running=running,
                  may_create=may(request, actor, CREATE), clock=clock(settings.zone))


def _vacancy_page(request: Request, actor: Actor, session: Session, settings: SettingsDep, vacancy_id: str,
                  status: int = 200, problem: str | None = None) -> Response:
    vacancy = service.visible_vacancy(session, actor, vacancy_id)
    mine = next((a for a in service.my_applications(session, actor) if a.vacancy_id == vacancy.id), None)
    lecturers = [people.get(session, p).name for p in service.lecturers_of(session, vacancy.id)]
    return render(request, "recruit_vacancy.html", status=status, actor=actor, vacancy=vacancy, mine=mine,
                  lecturers=lecturers, contact=contacts.contact(session, actor.person_id),
                  may_apply=may(request, actor, APPLY), may_run=service.may_run(session, actor, vacancy.id),
                  clock=clock(settings.zone), problem=problem)


@router.get("/vacancies/{vacancy_id}")
def vacancy_page(request: Request, vacancy_id: Id, session: SessionDep, settings: SettingsDep,
                 actor: Annotated[Actor, allowed("GET /recruitment/vacancies/{vacancy_id}")]) -> Response:
    return _vacancy_page(request, actor, session, settings, vacancy_id)


@router.get("/vacancies/{vacancy_id}/pamphlet")
def pamphlet(vacancy_id: Id, session: SessionDep, storage: StorageDep,
             actor: Annotated[Actor, allowed("GET /recruitment/vacancies/{vacancy_id}/pamphlet")]) -> Response:
    data, media_type = service.pamphlet(session, storage, actor, vacancy_id)
    return Response(data, media_type=media_type)


@router.post("/vacancies/{vacancy_id}/applications")
async def apply(request: Request, vacancy_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                storage: StorageDep, actor: Annotated[Actor, allowed(APPLY)], email: Email, whatsapp: WhatsApp,
                semester: Semester, declared_ipk: DeclaredIpk, transcript: Annotated[UploadFile, File()],
                documents: Annotated[list[UploadFile] | None, File()] = None,
                document_kinds: Annotated[list[str] | None, Form(max_length=40)] = None) -> Response:
    """POST /api/v1/recruitment/vacancies/{id}/applications from the form: stored, the transcript read and
    checked, then the applicant sees the check on their applications. A refusal (a second application,
    a closed vacancy, a file that is not a PDF or an image) comes back on the vacancy's page."""
    try:
        uploads = await application_uploads(settings, transcript, documents or [], document_kinds or [])
        made = await run_in_threadpool(lambda: service.submit(
            session, storage, actor, vacancy_id, email=email, whatsapp=whatsapp, semester=semester,
            declared_ipk=declared_ipk, uploads=uploads))
    except NotFound:
        raise
    except ServiceError as exc:
        session.rollback()
        return _vacancy_page(request, actor, session, settings, vacancy_id, status_of(exc), exc.detail)
    return RedirectResponse(f"/me/applications#application-{made.id}", status_code=303)


@router.get("/me/applications")
def my_applications(request: Request, session: SessionDep, settings: SettingsDep,
                    actor: Annotated[Actor, allowed(MINE)]) -> Response:
    return _my_applications(request, actor, session, settings)


def _my_applications(request: Request, actor: Actor, session: Session, settings: SettingsDep, status: int = 200,
                     problem: str | None = None, notice: str | None = None) -> Response:
    """One's own applications with their transcript checks; a contract and its certificate once activated."""
    found = service.my_applications(session, actor)
    contracts = {c.application_id: c for c in service.contracts_of(session, actor.person_id)}
    issued = certificates.issued(session, [c.id for c in contracts.values()])
    return render(request, "recruit_mine.html", status=status, actor=actor, applications=found,
                  may_withdraw=may(request, actor, WITHDRAW), problem=problem, notice=notice,
                  vacancies={a.vacancy_id: service.vacancy(session, a.vacancy_id) for a in found},
                  documents={a.id: service.documents_of(session, a.id) for a in found}, contracts=contracts,
                  issued=issued, clock=clock(settings.zone))


@router.post("/applications/{application_id}/withdraw")
def withdraw(request: Request, application_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
             actor: Annotated[Actor, allowed(WITHDRAW)], reason: Text = "") -> Response:
    """POST /api/v1/recruitment/applications/{id}:withdraw: the applicant, before the deadline."""
    try:
        service.withdraw(session, actor, application_id, DecisionIn(reason=reason).reason)
    except ValidationError as exc:
        return _my_applications(request, actor, session, settings, 422, _first_problem(exc))
    except NotFound:
        raise
    except ServiceError as exc:
        session.rollback()
        return _my_applications(request, actor, session, settings, status_of(exc), exc.detail)
    return _my_applications(request, actor, session, settings, notice="Application withdrawn.")


@router.get("/applications/{application_id}/documents/{kind}")
def document(application_id: Id, kind: Annotated[str, Path(min_length=1, max_length=40)], session: SessionDep,
             storage: StorageDep, actor: Annotated[Actor, allowed(
                 "GET /recruitment/applications/{application_id}/documents/{kind}")]) -> Response:
    """A document of an application, to the applicant and to those who run the vacancy (a download: an
    uploaded file never opens as a page of this site)."""
    data, media_type = service.document(session, storage, actor, application_id, kind)
    suffix = {"application/pdf": "pdf", "image/png": "png"}.get(media_type, "jpg")
    name = re.sub(r"[^A-Za-z0-9_]", "_", kind)  # a kind may hold any letter; a header only Latin-1
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}-{application_id}.{suffix}"'})


@router.get("/recruitment/assistantships/{assistantship_id}/certificate.pdf")
def certificate(assistantship_id: Id, session: SessionDep, storage: StorageDep, actor: Annotated[Actor, allowed(
        "GET /recruitment/assistantships/{assistantship_id}/certificate")]) -> Response:
    number, data = certificates.pdf(session, storage, actor, assistantship_id)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="sertifikat-{number}.pdf"'})


# Making and running a vacancy (lecturers, the head, admins)


def _new_page(request: Request, actor: Actor, settings: SettingsDep, status: int = 200, problem: str | None = None,
              form: dict[str, Any] | None = None) -> Response:
    now = utcnow()
    values = {"opens_at": _local(now, settings.zone), "closes_at": _local(now + timedelta(days=14), settings.zone),
              "quota": "2", "grade_scale": "AB", **(form or {})}
    return render(request, "recruit_new.html", status=status, actor=actor, form=values, problem=problem)


@router.get("/recruitment/new")
def new_vacancy_page(request: Request, settings: SettingsDep,
                     actor: Annotated[Actor, allowed(CREATE)]) -> Response:
    return _new_page(request, actor, settings)


def _requirements(text: str) -> list[dict[str, str]]:
    """One course a line: its code, optionally its name, and the lowest grade that counts (IF2110 Basis Data B)."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if words:
            found.append({"code": words[0].upper(), "name": " ".join(words[1:-1]), "min_grade": words[-1]})
    return found


def _lecturers(session: Session, numbers: str) -> list[str]:
    found = []
    for number in numbers.replace(";", ",").split(","):
        if number.strip():
            person = people.by_number(session, number.strip())
            if person is None:
                raise Invalid(f"no person with number {number.strip()[:40]}",
                              [(["form", "lecturers"], "unknown number")])
            found.append(person.id)
    return found


@router.post("/recruitment/vacancies")
async def create_vacancy(
    request: Request, _: Checked, session: SessionDep, settings: SettingsDep, storage: StorageDep,
    actor: Annotated[Actor, allowed(CREATE)], course_code: Annotated[str, Form(max_length=20)] = "",
    course_name: Annotated[str, Form(max_length=200)] = "", period: Annotated[str, Form(max_length=20)] = "",
    quota: Annotated[str, Form(max_length=4)] = "", opens_at: Annotated[str, Form(max_length=40)] = "",
    closes_at: Annotated[str, Form(max_length=40)] = "", description: Annotated[str, Form(max_length=5000)] = "",
    min_ipk: Annotated[str, Form(max_length=10)] = "", min_semester: Annotated[str, Form(max_length=4)] = "",
    courses: Text = "", required_documents: Annotated[str, Form(max_length=400)] = "",
    grade_scale: Annotated[str, Form(max_length=12)] = "AB", lecturers: Annotated[str, Form(max_length=400)] = "",
    pamphlet: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """POST /api/v1/recruitment/vacancies (a draft) and PUT .../pamphlet, from one form."""
    form = {k: v for k, v in locals().items() if isinstance(v, str)}  # the fields as typed, to show again
    try:
        data = VacancyIn.model_validate({
            "course_code": course_code.strip().upper(), "course_name": course_name, "period": period.strip(),
            "quota": quota or None, "opens_at": _moment(opens_at, settings.zone, "opens_at"),
            "closes_at": _moment(closes_at, settings.zone, "closes_at"), "description": description,
            "min_ipk": min_ipk or None, "min_semester": min_semester or None,
            "course_requirements": _requirements(courses), "grade_scale": grade_scale,
            "required_documents": [d.strip() for d in required_documents.split(",") if d.strip()],
            "lecturers": _lecturers(session, lecturers)})
        upload = await upload_of(settings, pamphlet, "pamphlet") if pamphlet is not None and _chosen(pamphlet) else None
    except ValidationError as exc:
        return _new_page(request, actor, settings, 422, _first_problem(exc), form)
    except ServiceError as exc:
        return _new_page(request, actor, settings, status_of(exc), exc.detail, form)
    try:
        made = service.create_vacancy(session, actor, data)
    except ServiceError as exc:
        session.rollback()
        return _new_page(request, actor, settings, status_of(exc), exc.detail, form)
    if upload is not None:
        shown = await _pamphlet(request, actor, session, settings, storage, made.id, upload)
        if shown.status_code != 200:  # the draft stands; its page says why the pamphlet did not
            return shown
    return RedirectResponse(f"/recruitment/vacancies/{made.id}", status_code=303)


async def _pamphlet(request: Request, actor: Actor, session: Session, settings: SettingsDep, storage: StorageDep,
                    vacancy_id: str, upload: service.Upload) -> Response:
    """PUT /api/v1/recruitment/vacancies/{id}/pamphlet, in a worker thread (pdfium reads a PDF's pages)."""
    return await run_in_threadpool(_acted, request, actor, session, settings, vacancy_id,
                                   lambda: service.set_pamphlet(session, storage, actor, vacancy_id, upload),
                                   notice="Pamphlet saved.")


def _run_page(request: Request, actor: Actor, session: Session, settings: SettingsDep, vacancy_id: str,
              status: int = 200, problem: str | None = None, notice: str | None = None) -> Response:
    vacancy = service.vacancy(session, vacancy_id)
    applications = service.applications(session, actor, vacancy_id)
    contracts = service.assistantships(session, actor, vacancy_id)
    return render(request, "recruit_run.html", status=status, actor=actor, vacancy=vacancy,
                  applications=applications, applicants={a.id: people.get(session, a.person_id) for a in applications},
                  documents={a.id: service.documents_of(session, a.id) for a in applications},
                  contracts={c.application_id: c for c in contracts},
                  attendance={c.id: attendance.listed(session, actor, c.id) for c in contracts},
                  issued=certificates.issued(session, [c.id for c in contracts]),
                  may_activate=may(request, actor, ACTIVATE), may_certify=may(request, actor, CERTIFY),
                  clock=clock(settings.zone), problem=problem, notice=notice)


@router.get("/recruitment/vacancies/{vacancy_id}")
def run_page(request: Request, vacancy_id: Id, session: SessionDep, settings: SettingsDep,
             actor: Annotated[Actor, allowed(RUN)]) -> Response:
    return _run_page(request, actor, session, settings, vacancy_id)


def _acted(request: Request, actor: Actor, session: Session, settings: SettingsDep, vacancy_id: str,
           action: Callable[[], object], notice: str) -> Response:
    """Do one step of the vacancy's work; its refusal (a full quota, a step out of order, a form field the
    API would refuse) is shown on the vacancy's page with the API's status."""
    try:
        action()
    except NotFound:
        raise
    except ValidationError as exc:
        return _run_page(request, actor, session, settings, vacancy_id, 422, _first_problem(exc))
    except ServiceError as exc:
        session.rollback()
        return _run_page(request, actor, session, settings, vacancy_id, status_of(exc), exc.detail)
    return _run_page(request, actor, session, settings, vacancy_id, notice=notice)


@router.post("/recruitment/vacancies/{vacancy_id}/open")
def open_vacancy(request: Request, vacancy_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                 actor: Annotated[Actor, allowed("POST /recruitment/vacancies/{vacancy_id}:open")]) -> Response:
    return _acted(request, actor, session, settings, vacancy_id,
                  lambda: service.set_state(session, actor, vacancy_id, VacancyState.OPEN),
                  notice="The vacancy is open for applications.")


@router.post("/recruitment/vacancies/{vacancy_id}/close")
def close_vacancy(request: Request, vacancy_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                  actor: Annotated[Actor, allowed("POST /recruitment/vacancies/{vacancy_id}:close")]) -> Response:
    return _acted(request, actor, session, settings, vacancy_id,
                  lambda: service.set_state(session, actor, vacancy_id, VacancyState.CLOSED),
                  notice="The vacancy is closed.")


@router.post("/recruitment/vacancies/{vacancy_id}/pamphlet")
async def replace_pamphlet(request: Request, vacancy_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                           storage: StorageDep, file: Annotated[UploadFile, File()],
                           actor: Annotated[Actor, allowed("PUT /recruitment/vacancies/{vacancy_id}/pamphlet")],
                           ) -> Response:
    return await _pamphlet(request, actor, session, settings, storage, vacancy_id,
                           await upload_of(settings, file, "pamphlet"))


def _vacancy_of(session: Session, actor: Actor, application_id: str) -> str:
    return service.application(session, actor, application_id).vacancy_id


@router.post("/recruitment/applications/{application_id}/review")
def review(request: Request, application_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
           actor: Annotated[Actor, allowed("POST /recruitment/applications/{application_id}:review")],
           outcome: Annotated[str, Form(max_length=20)] = "", reason: Text = "") -> Response:
    def done() -> None:
        body = ReviewIn.model_validate({"outcome": outcome, "reason": reason})
        service.review(session, actor, application_id, body.outcome, body.reason)
    return _acted(request, actor, session, settings, _vacancy_of(session, actor, application_id), done,
                  notice="Check confirmed.")


@router.post("/recruitment/applications/{application_id}/activate")
def activate(request: Request, application_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
             base: BaseUrlDep, actor: Annotated[Actor, allowed(ACTIVATE)]) -> Response:
    return _acted(request, actor, session, settings, _vacancy_of(session, actor, application_id),
                  lambda: service.activate(session, actor, application_id, base), notice="Contract activated.")


DECISIONS: dict[str, tuple[Callable[[Session, Actor, str, str], object], str]] = {
    "accept": (service.accept, "Accepted."), "reject": (service.reject, "Rejected.")}


@router.post("/recruitment/applications/{application_id}/{decision}")
def decide(request: Request, application_id: Id, decision: Annotated[str, Path(pattern="^(accept|reject)$")],
           _: Checked, session: SessionDep, settings: SettingsDep, actor: Acting, reason: Text = "") -> Response:
    """POST /api/v1/recruitment/applications/{id}:accept or :reject, for the roles each lets in (after the
    other steps of an application: its path would take theirs)."""
    Allowed(f"POST /recruitment/applications/{{application_id}}:{decision}")(request, actor)
    step, notice = DECISIONS[decision]
    return _acted(request, actor, session, settings, _vacancy_of(session, actor, application_id),
                  lambda: step(session, actor, application_id, DecisionIn(reason=reason).reason), notice)


@router.post("/recruitment/assistantships/{assistantship_id}/end")
def end_contract(request: Request, assistantship_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                 actor: Annotated[Actor, allowed("POST /recruitment/assistantships/{assistantship_id}:end")],
                 reason: Text = "") -> Response:
    vacancy_id = service.assistantship(session, assistantship_id).vacancy_id
    return _acted(request, actor, session, settings, vacancy_id,
                  lambda: service.end(session, actor, assistantship_id, DecisionIn(reason=reason).reason),
                  notice="Contract ended.")


@router.post("/recruitment/assistantships/{assistantship_id}/certificate")
def issue_certificate(request: Request, assistantship_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                      storage: StorageDep, base: BaseUrlDep, actor: Annotated[Actor, allowed(CERTIFY)],
                      signatory: Annotated[str, Form(max_length=200)] = "") -> Response:
    vacancy_id = service.assistantship(session, assistantship_id).vacancy_id
    return _acted(request, actor, session, settings, vacancy_id,
                  lambda: certificates.issue(session, storage, actor, assistantship_id,
                                             CertificateIn(signatory=signatory).signatory, base),
                  notice="Certificate issued.")


@router.post("/recruitment/attendance/{attendance_id}/confirm")
def confirm_attendance(request: Request, attendance_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
                       actor: Annotated[Actor, allowed("POST /recruitment/attendance/{attendance_id}:confirm")],
                       ) -> Response:
    row = attendance.confirm(session, actor, attendance_id)
    vacancy_id = service.assistantship(session, row.assistantship_id).vacancy_id
    return _run_page(request, actor, session, settings, vacancy_id, notice="Attendance confirmed.")


@router.get("/recruitment/attendance/{attendance_id}/photo")
def attendance_photo(attendance_id: Id, session: SessionDep, storage: StorageDep,
                     actor: Annotated[Actor, allowed("GET /recruitment/attendance/{attendance_id}/photo")]) -> Response:
    data = attendance.photo(session, storage, actor, attendance_id)
    return Response(data, media_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg")


# An assistant's own attendance


def _assistant_page(request: Request, actor: Actor, session: Session, settings: SettingsDep, status: int = 200,
                    problem: str | None = None, notice: str | None = None) -> Response:
    contracts = service.assistantships(session, actor, None)
    now = utcnow()
    return render(request, "recruit_assistant.html", status=status, actor=actor, contracts=contracts,
                  vacancies={c.vacancy_id: service.vacancy(session, c.vacancy_id) for c in contracts},
                  attendance={c.id: attendance.listed(session, actor, c.id) for c in contracts},
                  starts=_local(now - timedelta(hours=2), settings.zone), ends=_local(now, settings.zone),
                  clock=clock(settings.zone), problem=problem, notice=notice)


@router.get("/assistant")
def assistant_page(request: Request, session: SessionDep, settings: SettingsDep,
                   actor: Annotated[Actor, allowed(RECORD)]) -> Response:
    return _assistant_page(request, actor, session, settings)


@router.post("/assistant/{assistantship_id}/attendance")
async def record_attendance(
    request: Request, assistantship_id: Id, _: Checked, session: SessionDep, settings: SettingsDep,
    storage: StorageDep, faces: FacesDep, actor: Annotated[Actor, allowed(RECORD)], room: Room,
    starts_at: Annotated[str, Form(max_length=40)], ends_at: Annotated[str, Form(max_length=40)],
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """POST /api/v1/recruitment/assistantships/{id}/attendance from the phone: the photo its camera took
    (or none, when a kiosk saw the assistant in the room)."""
    try:
        first, last = _moment(starts_at, settings.zone, "starts_at"), _moment(ends_at, settings.zone, "ends_at")
        upload = await upload_of(settings, photo, "photo") if photo is not None and _chosen(photo) else None
        await run_in_threadpool(attendance.record, session, storage, faces, actor, assistantship_id, room.strip(),
                                first, last, upload)
    except NotFound:
        raise
    except ServiceError as exc:
        session.rollback()
        return _assistant_page(request, actor, session, settings, status_of(exc), exc.detail)
    return _assistant_page(request, actor, session, settings, notice="Attendance recorded.")
