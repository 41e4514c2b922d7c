"""Recruitment of lab assistants: vacancies, applications, selection, activation, attendance, contract
end and certificates. Thin endpoints; the rules are in ``service``, ``attendance`` and ``certificates``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.core.dependencies import SessionDep, SettingsDep
from server.core.errors import Invalid
from server.core.settings import Settings
from server.core.uploads import read_limited
from server.faces.router import FacesDep
from server.recruitment import attendance, certificates, service
from server.recruitment.dependencies import (
    Admins,
    Anyone,
    Assistants,
    BaseUrlDep,
    Readers,
    Runners,
    StorageDep,
    Students,
)
from server.recruitment.schemas import (
    ApplicationOut,
    ApplicationPage,
    AssistantshipOut,
    AssistantshipPage,
    AttendanceOut,
    AttendancePage,
    CertificateIn,
    CertificateOut,
    DecisionIn,
    DocumentOut,
    HistoryOut,
    ReviewIn,
    VacancyIn,
    VacancyOut,
    VacancyPage,
    VacancyState,
    VerificationOut,
    When,
)
from server.recruitment.tables import Application, Vacancy

router = APIRouter(tags=["recruitment"])

Id = Annotated[str, Path(min_length=1, max_length=64)]
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                           "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                           "image/png": {"schema": {"type": "string", "format": "binary"}}},
               "description": "the file as uploaded"}}
Email = Annotated[str, Form(min_length=3, max_length=254, pattern=PRINTABLE)]
WhatsApp = Annotated[str, Form(min_length=3, max_length=30, pattern=PRINTABLE)]
Semester = Annotated[int, Form(ge=1, le=14)]
DeclaredIpk = Annotated[float, Form(ge=0, le=4)]
Room = Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$", examples=["LAB-1"])]
UPLOAD = ("PDF, JPEG or PNG, at most LABGATE_RECRUITMENT_MAX_BYTES (10 MB) and 20 pages; the type is read from "
          "the content")


def _vacancy_out(session: Session, vacancy: Vacancy) -> VacancyOut:
    return VacancyOut.model_validate({**{c: getattr(vacancy, c) for c in VacancyOut.model_fields
                                         if hasattr(vacancy, c)},
                                      "lecturers": service.lecturers_of(session, vacancy.id),
                                      "has_pamphlet": vacancy.pamphlet_key is not None})


def _application_out(session: Session, application: Application) -> ApplicationOut:
    values: dict[str, Any] = {c: getattr(application, c) for c in ApplicationOut.model_fields
                              if hasattr(application, c)}
    values["documents"] = [DocumentOut.model_validate(d) for d in service.documents_of(session, application.id)]
    values["history"] = [HistoryOut.model_validate(h) for h in service.history(session, application.id)]
    return ApplicationOut.model_validate(values)


async def upload_of(settings: Settings, file: UploadFile, kind: str) -> service.Upload:
    """An uploaded file read within the recruitment limit (the API's endpoints and the pages share it)."""
    return service.Upload(kind, file.filename or "", await read_limited(file, settings.recruitment_max_bytes,
                                                                        f"the {kind}"))


async def application_uploads(settings: Settings, transcript: UploadFile, documents: list[UploadFile],
                              kinds: list[str]) -> list[service.Upload]:
    """The transcript and the other documents, each named by its kind (a simple name, never repeated)."""
    if len(documents) != len(kinds):
        raise Invalid(f"{len(documents)} document(s) but {len(kinds)} document_kinds; name each document's kind",
                      [(["body", "document_kinds"], "one kind per document")])
    uploads = [await upload_of(settings, transcript, "transcript")]
    for upload, kind in zip(documents, kinds, strict=True):
        if kind in {u.kind for u in uploads} or not kind.isidentifier() or len(kind) > 40:
            raise Invalid(f"document kind {kind!r} is repeated or not a simple name",
                          [(["body", "document_kinds"], f"{kind!r}")])
        uploads.append(await upload_of(settings, upload, kind))
    return uploads


@router.get("/recruitment/vacancies", response_model=VacancyPage)
def list_vacancies(actor: Anyone, session: SessionDep) -> VacancyPage:
    """Vacancies, newest deadline first; drafts only to those who may run them."""
    return VacancyPage(items=[_vacancy_out(session, v) for v in service.visible_vacancies(session, actor)])


@router.post("/recruitment/vacancies", response_model=VacancyOut, status_code=status.HTTP_201_CREATED)
def create_vacancy(body: VacancyIn, actor: Runners, session: SessionDep) -> VacancyOut:
    """A vacancy in draft: course, lecturers, quota, period, registration window and requirements. A
    lecturer who creates one runs it."""
    return _vacancy_out(session, service.create_vacancy(session, actor, body))


@router.get("/recruitment/vacancies/{vacancy_id}", response_model=VacancyOut)
def get_vacancy(vacancy_id: Id, actor: Anyone, session: SessionDep) -> VacancyOut:
    return _vacancy_out(session, service.visible_vacancy(session, actor, vacancy_id))


@router.post("/recruitment/vacancies/{vacancy_id}:open", response_model=VacancyOut)
def open_vacancy(vacancy_id: Id, actor: Runners, session: SessionDep) -> VacancyOut:
    """draft -> open: students may apply within the registration window."""
    return _vacancy_out(session, service.set_state(session, actor, vacancy_id, VacancyState.OPEN))


@router.post("/recruitment/vacancies/{vacancy_id}:close", response_model=VacancyOut)
def close_vacancy(vacancy_id: Id, actor: Runners, session: SessionDep) -> VacancyOut:
    """open -> closed by the lecturer (it also closes by itself at the deadline and when the quota fills)."""
    return _vacancy_out(session, service.set_state(session, actor, vacancy_id, VacancyState.CLOSED))


@router.put("/recruitment/vacancies/{vacancy_id}/pamphlet", response_model=VacancyOut)
async def put_pamphlet(vacancy_id: Id, actor: Runners, session: SessionDep, settings: SettingsDep,
                       storage: StorageDep, file: Annotated[UploadFile, File(description=UPLOAD)]) -> VacancyOut:
    upload = await upload_of(settings, file, "pamphlet")
    vacancy = await run_in_threadpool(service.set_pamphlet, session, storage, actor, vacancy_id, upload)
    return _vacancy_out(session, vacancy)


@router.get("/recruitment/vacancies/{vacancy_id}/pamphlet", response_class=Response, responses=FILES)
def get_pamphlet(vacancy_id: Id, actor: Anyone, session: SessionDep, storage: StorageDep) -> Response:
    data, media_type = service.pamphlet(session, storage, actor, vacancy_id)
    return Response(data, media_type=media_type)


@router.post("/recruitment/vacancies/{vacancy_id}/applications", response_model=ApplicationOut,
             status_code=status.HTTP_201_CREATED)
async def apply(
    vacancy_id: Id, actor: Students, session: SessionDep, settings: SettingsDep, storage: StorageDep,
    email: Email, whatsapp: WhatsApp, semester: Semester, declared_ipk: DeclaredIpk,
    transcript: Annotated[UploadFile, File(description=f"the transcript (KHS): {UPLOAD}")],
    documents: Annotated[list[UploadFile] | None, File(description="other documents the vacancy asks for")] = None,
    document_kinds: Annotated[list[str] | None, Form(description="the kind of each document, in order (cv, ...)")]
    = None,
) -> ApplicationOut:
    """Apply, once per vacancy (a second application is a 409, even when both arrive at once). The
    transcript is read (its text, or OCR for a scan) and checked against the requirements before the
    answer: the application comes back checked as met, not met or needs review."""
    uploads = await application_uploads(settings, transcript, documents or [], document_kinds or [])
    checked = await run_in_threadpool(lambda: service.submit(session, storage, actor, vacancy_id, email=email,
                                                             whatsapp=whatsapp, semester=semester,
                                                             declared_ipk=declared_ipk, uploads=uploads))
    return _application_out(session, checked)


@router.get("/recruitment/vacancies/{vacancy_id}/applications", response_model=ApplicationPage)
def list_applications(vacancy_id: Id, actor: Runners, session: SessionDep) -> ApplicationPage:
    """The applicants with their check results and documents, for the vacancy's lecturers."""
    return ApplicationPage(items=[_application_out(session, a)
                                  for a in service.applications(session, actor, vacancy_id)])


@router.get("/recruitment/vacancies/{vacancy_id}/attendance.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "number,name,course,period,room,starts_at,ends_at,source,face_score,"
                                            "confirmed,confirmed_at"}})
def export_attendance(vacancy_id: Id, actor: Runners, session: SessionDep) -> Response:
    text = attendance.export(session, actor, vacancy_id)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="assistants-{vacancy_id}.csv"'})


@router.get("/me/applications", response_model=ApplicationPage)
def my_applications(actor: Anyone, session: SessionDep) -> ApplicationPage:
    return ApplicationPage(items=[_application_out(session, a) for a in service.my_applications(session, actor)])


@router.get("/recruitment/applications/{application_id}", response_model=ApplicationOut)
def get_application(application_id: Id, actor: Anyone, session: SessionDep) -> ApplicationOut:
    """To the applicant and to those who run the vacancy."""
    return _application_out(session, service.application(session, actor, application_id))


@router.get("/recruitment/applications/{application_id}/documents/{kind}", response_class=Response,
            responses=FILES)
def get_document(application_id: Id, kind: Annotated[str, Path(min_length=1, max_length=40)], actor: Anyone,
                 session: SessionDep, storage: StorageDep) -> Response:
    """A document of an application, to the applicant and to those who run the vacancy."""
    data, media_type = service.document(session, storage, actor, application_id, kind)
    return Response(data, media_type=media_type)


@router.post("/recruitment/applications/{application_id}:withdraw", response_model=ApplicationOut)
def withdraw(application_id: Id, body: DecisionIn, actor: Students, session: SessionDep) -> ApplicationOut:
    """The applicant withdraws, before the registration deadline."""
    return _application_out(session, service.withdraw(session, actor, application_id, body.reason))


@router.post("/recruitment/applications/{application_id}:review", response_model=ApplicationOut)
def review(application_id: Id, body: ReviewIn, actor: Runners, session: SessionDep) -> ApplicationOut:
    """A person confirms a check (needs review, or any other): met or not met, with the reason."""
    return _application_out(session, service.review(session, actor, application_id, body.outcome, body.reason))


@router.post("/recruitment/applications/{application_id}:accept", response_model=ApplicationOut)
def accept(application_id: Id, body: DecisionIn, actor: Runners, session: SessionDep) -> ApplicationOut:
    """Accept within the quota (never past it, even when accepted at once); the applicant is told by
    email and WhatsApp."""
    return _application_out(session, service.accept(session, actor, application_id, body.reason))


@router.post("/recruitment/applications/{application_id}:reject", response_model=ApplicationOut)
def reject(application_id: Id, body: DecisionIn, actor: Runners, session: SessionDep) -> ApplicationOut:
    return _application_out(session, service.reject(session, actor, application_id, body.reason))


@router.post("/recruitment/applications/{application_id}:activate", response_model=AssistantshipOut,
             status_code=status.HTTP_201_CREATED)
def activate(application_id: Id, actor: Admins, session: SessionDep, base: BaseUrlDep) -> AssistantshipOut:
    """The accepted applicant gains the assistant role for the vacancy's period and is sent how to sign in."""
    return AssistantshipOut.model_validate(service.activate(session, actor, application_id, base))


@router.get("/recruitment/assistantships", response_model=AssistantshipPage)
def list_assistantships(actor: Readers, session: SessionDep,
                        vacancy_id: Annotated[str | None, Query(max_length=64)] = None) -> AssistantshipPage:
    """Contracts: all to admins and heads, a lecturer's vacancies' to them, an assistant's own to them."""
    return AssistantshipPage(items=[AssistantshipOut.model_validate(a)
                                    for a in service.assistantships(session, actor, vacancy_id)])


@router.post("/recruitment/assistantships/{assistantship_id}:end", response_model=AssistantshipOut)
def end_contract(assistantship_id: Id, body: DecisionIn, actor: Runners, session: SessionDep) -> AssistantshipOut:
    """End the contract at once: the assistant role goes, and tokens carrying it stop working."""
    return AssistantshipOut.model_validate(service.end(session, actor, assistantship_id, body.reason))


@router.post("/recruitment/assistantships/{assistantship_id}/attendance", response_model=AttendanceOut,
             status_code=status.HTTP_201_CREATED)
async def record_attendance(
    assistantship_id: Id, actor: Assistants, session: SessionDep, settings: SettingsDep, storage: StorageDep,
    faces: FacesDep, room: Room,
    starts_at: Annotated[When, Form()], ends_at: Annotated[When, Form()],
    photo: Annotated[UploadFile | None, File(description="JPEG or PNG; not needed when a kiosk saw you there")]
    = None,
) -> AttendanceOut:
    """The assistant at one practicum session: a photo as proof, or a kiosk event at the room during the
    session."""
    upload = None if photo is None else await upload_of(settings, photo, "photo")
    row = await run_in_threadpool(attendance.record, session, storage, faces, actor, assistantship_id, room,
                                  starts_at, ends_at, upload)
    return AttendanceOut.model_validate(row)


@router.get("/recruitment/assistantships/{assistantship_id}/attendance", response_model=AttendancePage)
def list_attendance(assistantship_id: Id, actor: Readers, session: SessionDep) -> AttendancePage:
    return AttendancePage(items=[AttendanceOut.model_validate(a)
                                 for a in attendance.listed(session, actor, assistantship_id)])


@router.post("/recruitment/attendance/{attendance_id}:confirm", response_model=AttendanceOut)
def confirm_attendance(attendance_id: Id, actor: Runners, session: SessionDep) -> AttendanceOut:
    return AttendanceOut.model_validate(attendance.confirm(session, actor, attendance_id))


@router.get("/recruitment/attendance/{attendance_id}/photo", response_class=Response, responses=FILES)
def attendance_photo(attendance_id: Id, actor: Readers, session: SessionDep, storage: StorageDep) -> Response:
    data = attendance.photo(session, storage, actor, attendance_id)
    return Response(data, media_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg")


@router.post("/recruitment/assistantships/{assistantship_id}/certificate", response_model=CertificateOut,
             status_code=status.HTTP_201_CREATED)
def issue_certificate(assistantship_id: Id, body: CertificateIn, actor: Admins, session: SessionDep,
                      storage: StorageDep, base: BaseUrlDep) -> CertificateOut:
    """Make the PDF certificate (sessions attended: confirmed ones), keep its number and sha256, mail it."""
    row = certificates.issue(session, storage, actor, assistantship_id, body.signatory, base)
    values = {c: getattr(row, c) for c in CertificateOut.model_fields if hasattr(row, c)}
    return CertificateOut.model_validate({**values, "verify_url": certificates.verify_url(base, row.number)})


@router.get("/recruitment/assistantships/{assistantship_id}/certificate", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the certificate's PDF as issued (its sha256 is the one kept)"}})
def download_certificate(assistantship_id: Id, actor: Anyone, session: SessionDep, storage: StorageDep) -> Response:
    """The certificate, to its holder (in any role: the assistant role ends with the contract) and to
    those who run the vacancy; it is also mailed when issued."""
    number, data = certificates.pdf(session, storage, actor, assistantship_id)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="sertifikat-{number}.pdf"'})


@router.get("/recruitment/certificates/{number}", response_model=VerificationOut)
def verify_certificate(number: Annotated[str, Path(min_length=1, max_length=40)],
                       session: SessionDep) -> VerificationOut:
    """Public: is a certificate with this number genuine? (what its QR code opens)."""
    found = certificates.find(session, number)
    if found is None:
        return VerificationOut(genuine=False, number=number)
    return VerificationOut(genuine=True, number=found.number, person_name=found.person_name, course=found.course,
                           period=found.period, sessions=found.sessions, issued_at=found.issued_at,
                           sha256=found.sha256)
