"""The rules of recruitment: vacancies open and close, one application per student per vacancy (the
database's unique constraint), the transcript read and checked, acceptances within the quota (a
conditional UPDATE under a CHECK), activation, contract end, and every change of an application's
state in its history."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.auth.roles import Role
from server.auth.tables import RefreshToken
from server.core.clock import utcnow
from server.core.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from server.core.ids import new_id
from server.feed import journal
from server.notifications.kinds import Topic
from server.notifications.outbox import notify
from server.notifications.tables import Contact
from server.people.tables import Person, PersonRole
from server.recruitment import check, files, ocr
from server.recruitment.grades import SCALES
from server.recruitment.schemas import ApplicationState, Outcome, VacancyIn, VacancyState
from server.recruitment.storage import Storage
from server.recruitment.tables import (
    Application,
    ApplicationDocument,
    ApplicationHistory,
    Assistantship,
    Vacancy,
    VacancyLecturer,
)

log = logging.getLogger("labgate.recruitment")

ALREADY_APPLIED = "you have already applied to this vacancy (Anda sudah mendaftar); withdraw is the only change left"
MANAGERS = (Role.ADMIN.value, Role.HEAD.value)


@dataclass(frozen=True)
class Upload:
    kind: str
    filename: str
    data: bytes

    def __post_init__(self) -> None:  # a client's name for its file, kept only as text a database can store
        object.__setattr__(self, "filename", re.sub(r"[\x00-\x1f\x7f/\\]", "_", self.filename)[-200:])


# Vacancies


def create_vacancy(session: Session, actor: Actor, data: VacancyIn) -> Vacancy:
    lecturers = list(dict.fromkeys(data.lecturers))
    if actor.role == Role.LECTURER.value and actor.person_id not in lecturers:
        lecturers.insert(0, actor.person_id)
    for person_id in lecturers:
        person = session.get(Person, person_id)
        if person is None or Role.LECTURER.value not in person.role_names:
            raise Invalid(f"{person_id} is not a lecturer; name lecturers by their person id",
                          [(["body", "lecturers"], f"{person_id} is not a lecturer")])
    now = utcnow()
    vacancy = Vacancy(
        id=new_id(), course_code=data.course_code, course_name=data.course_name.strip(), period=data.period,
        quota=data.quota, accepted=0, opens_at=data.opens_at, closes_at=data.closes_at, description=data.description,
        state=VacancyState.DRAFT.value, closed_reason=None, min_ipk=data.min_ipk, min_semester=data.min_semester,
        course_requirements=[r.model_dump() for r in data.course_requirements],
        required_documents=list(dict.fromkeys(d for d in data.required_documents if d != "transcript")),
        grade_scale=dict(SCALES[data.grade_scale]), pamphlet_key=None, pamphlet_type=None,
        created_by=actor.person_id, created_at=now, updated_at=now)
    session.add(vacancy)
    session.flush()
    session.add_all([VacancyLecturer(vacancy_id=vacancy.id, person_id=p) for p in lecturers])
    audit.record(session, actor, "vacancy.create", "vacancy", vacancy.id, course=data.course_code)
    session.commit()
    return vacancy


def vacancy(session: Session, vacancy_id: str) -> Vacancy:
    found = session.get(Vacancy, vacancy_id)
    if found is None:
        raise NotFound(f"no vacancy with id {vacancy_id}")
    _close_at_deadline(session, found)
    return found


def vacancies(session: Session, actor: Actor) -> list[Vacancy]:
    query = select(Vacancy).order_by(Vacancy.closes_at.desc(), Vacancy.id)
    if actor.role in (Role.STUDENT.value, Role.ASSISTANT.value, Role.TECHNICIAN.value):
        query = query.where(Vacancy.state != VacancyState.DRAFT.value)
    found = list(session.scalars(query.limit(500)))
    for item in found:
        _close_at_deadline(session, item)
    return found


def visible_vacancies(session: Session, actor: Actor) -> list[Vacancy]:
    """Vacancies, newest deadline first; drafts only to those who may run them."""
    return [v for v in vacancies(session, actor)
            if v.state != VacancyState.DRAFT.value or may_run(session, actor, v.id)]


def visible_vacancy(session: Session, actor: Actor, vacancy_id: str) -> Vacancy:
    """A vacancy; a draft is not found by those who may not run it."""
    found = vacancy(session, vacancy_id)
    if found.state == VacancyState.DRAFT.value and not may_run(session, actor, found.id):
        raise NotFound(f"no vacancy with id {vacancy_id}")
    return found


def pamphlet(session: Session, storage: Storage, actor: Actor, vacancy_id: str) -> tuple[bytes, str]:
    found = visible_vacancy(session, actor, vacancy_id)
    if found.pamphlet_key is None or found.pamphlet_type is None:
        raise NotFound("this vacancy has no pamphlet")
    return storage.get(found.pamphlet_key), found.pamphlet_type


def lecturers_of(session: Session, vacancy_id: str) -> list[str]:
    return list(session.scalars(select(VacancyLecturer.person_id).where(VacancyLecturer.vacancy_id == vacancy_id)
                                .order_by(VacancyLecturer.person_id)))


def runs(session: Session, actor: Actor, vacancy_id: str) -> None:
    """Admins and heads run every vacancy; a lecturer only those they are named on."""
    if actor.role in MANAGERS:
        return
    if actor.role == Role.LECTURER.value and actor.person_id in lecturers_of(session, vacancy_id):
        return
    raise Forbidden("only the vacancy's lecturers (or an admin or the head of the lab) may do this")


def may_run(session: Session, actor: Actor, vacancy_id: str) -> bool:
    try:
        runs(session, actor, vacancy_id)
    except Forbidden:
        return False
    return True


def set_state(session: Session, actor: Actor, vacancy_id: str, state: VacancyState) -> Vacancy:
    found = vacancy(session, vacancy_id)
    runs(session, actor, vacancy_id)
    allowed = {VacancyState.OPEN: {VacancyState.DRAFT.value}, VacancyState.CLOSED: {VacancyState.OPEN.value}}
    if found.state not in allowed.get(state, set()):
        raise Conflict(f"the vacancy is {found.state}; it cannot be made {state.value}")
    if state is VacancyState.OPEN and found.closes_at <= utcnow():
        raise Conflict(f"the registration window ended at {found.closes_at.isoformat()}; make a new vacancy")
    found.state = state.value
    found.closed_reason = "lecturer" if state is VacancyState.CLOSED else None
    found.updated_at = utcnow()
    audit.record(session, actor, f"vacancy.{state.value}", "vacancy", found.id)
    session.commit()
    return found


def set_pamphlet(session: Session, storage: Storage, actor: Actor, vacancy_id: str, upload: Upload) -> Vacancy:
    found = vacancy(session, vacancy_id)
    runs(session, actor, vacancy_id)
    checked = files.inspect(upload.data, upload.filename, "the pamphlet")
    old = found.pamphlet_key
    found.pamphlet_key = storage.put("pamphlets", upload.data, checked.suffix)
    found.pamphlet_type = checked.media_type
    found.updated_at = utcnow()
    try:
        session.commit()
    except Exception:
        storage.delete(found.pamphlet_key)
        raise
    if old:
        storage.delete(old)
    return found


def _close_at_deadline(session: Session, found: Vacancy) -> None:
    if found.state == VacancyState.OPEN.value and found.closes_at <= utcnow():
        session.execute(update(Vacancy).where(Vacancy.id == found.id, Vacancy.state == VacancyState.OPEN.value)
                        .values(state=VacancyState.CLOSED.value, closed_reason="deadline", updated_at=utcnow()))
        session.commit()
        session.refresh(found)


# Applications


def apply(session: Session, storage: Storage, actor: Actor, vacancy_id: str, *, email: str, whatsapp: str,
          semester: int, declared_ipk: float, uploads: Sequence[Upload]) -> Application:
    """Store an application and its documents. The unique constraint refuses a second one (409), even
    when two arrive at once; a refused or failed application leaves no file behind."""
    from server.notifications.contacts import email_address, whatsapp_number

    found = vacancy(session, vacancy_id)
    now = utcnow()
    if found.state != VacancyState.OPEN.value or not found.opens_at <= now < found.closes_at:
        raise Conflict(f"the vacancy is {found.state} (registration {found.opens_at.isoformat()} to "
                       f"{found.closes_at.isoformat()}); applications are not taken now")
    email, whatsapp = email_address(email), whatsapp_number(whatsapp)
    kinds = [u.kind for u in uploads]
    if "transcript" not in kinds:
        raise Invalid("the transcript (KHS) is required", [(["body", "transcript"], "required")])
    missing = [kind for kind in found.required_documents if kind not in kinds]
    if missing:
        raise Invalid(f"the vacancy asks for these documents too: {', '.join(missing)}",
                      [(["body", "documents"], f"missing {kind}") for kind in missing])
    checked = {u.kind: files.inspect(u.data, u.filename, f"the {u.kind}") for u in uploads}
    if session.scalar(select(Application.id).where(Application.vacancy_id == found.id,
                                                   Application.person_id == actor.person_id)):
        raise Conflict(ALREADY_APPLIED)  # the common case, early; the constraint decides the race
    application = Application(
        id=new_id(), vacancy_id=found.id, person_id=actor.person_id, email=email, whatsapp=whatsapp,
        semester=semester, declared_ipk=declared_ipk, state=ApplicationState.SUBMITTED.value, outcome=None,
        findings=None, created_at=now, updated_at=now)
    session.add(application)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(ALREADY_APPLIED) from exc
    stored: list[str] = []
    try:
        for upload in uploads:
            key = storage.put("documents", upload.data, checked[upload.kind].suffix)
            stored.append(key)
            session.add(ApplicationDocument(
                id=new_id(), application_id=application.id, kind=upload.kind, filename=upload.filename[:200],
                media_type=checked[upload.kind].media_type, size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(), storage_key=key, created_at=now))
        _history(session, application, None, ApplicationState.SUBMITTED, actor.person_id, "applied")
        _reachable(session, actor.person_id, email, whatsapp)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        for key in stored:
            storage.delete(key)
        raise Conflict(ALREADY_APPLIED) from exc
    except BaseException:
        session.rollback()
        for key in stored:
            storage.delete(key)
        raise
    return application


def submit(session: Session, storage: Storage, actor: Actor, vacancy_id: str, *, email: str, whatsapp: str,
           semester: int, declared_ipk: float, uploads: Sequence[Upload]) -> Application:
    """Apply, then check the transcript before answering: the applicant sees the check at once."""
    made = apply(session, storage, actor, vacancy_id, email=email, whatsapp=whatsapp, semester=semester,
                 declared_ipk=declared_ipk, uploads=uploads)
    return check_transcript(session, storage, made.id)


def check_transcript(session: Session, storage: Storage, application_id: str) -> Application:
    """Read the transcript and check the requirements: submitted -> checked (met, not met or needs review).
    A transcript that cannot be read sends the application to review; it never rejects anyone."""
    application = _application(session, application_id)
    found = vacancy(session, application.vacancy_id)
    documents = {d.kind: d for d in _documents(session, application.id)}
    transcript = documents["transcript"]
    reading, reason = None, None
    try:
        reading = ocr.read(storage.get(transcript.storage_key), transcript.media_type, found.grade_scale)
    except ServiceError as exc:
        reason = f"the transcript could not be read: {exc.detail}"
    except Exception as exc:  # a file pdfium or OpenCV cannot cope with: a person reads it
        log.warning("event=transcript_unreadable application=%s error=%s", application.id, type(exc).__name__)
        reason = f"the transcript could not be read ({type(exc).__name__})"
    findings = check.evaluate(
        reading, found.grade_scale, declared_ipk=application.declared_ipk, semester=application.semester,
        min_ipk=found.min_ipk, min_semester=found.min_semester, courses=found.course_requirements,
        required_documents=found.required_documents, documents=list(documents), unreadable_reason=reason)
    moved = _move(session, application, {ApplicationState.SUBMITTED}, ApplicationState.CHECKED, None,
                  f"transcript checked: {findings['outcome']}")
    if moved:
        application.outcome = findings["outcome"]
        application.findings = findings
    session.commit()
    return application


def application(session: Session, actor: Actor, application_id: str) -> Application:
    """An application, to its applicant and to those who run its vacancy."""
    found = _application(session, application_id)
    if found.person_id != actor.person_id:
        runs(session, actor, found.vacancy_id)
    return found


def applications(session: Session, actor: Actor, vacancy_id: str) -> list[Application]:
    vacancy(session, vacancy_id)
    runs(session, actor, vacancy_id)
    return list(session.scalars(select(Application).where(Application.vacancy_id == vacancy_id)
                                .order_by(Application.created_at, Application.id)))


def my_applications(session: Session, actor: Actor) -> list[Application]:
    return list(session.scalars(select(Application).where(Application.person_id == actor.person_id)
                                .order_by(Application.created_at.desc())))


def document(session: Session, storage: Storage, actor: Actor, application_id: str, kind: str) -> tuple[bytes, str]:
    found = application(session, actor, application_id)
    row = session.scalar(select(ApplicationDocument).where(ApplicationDocument.application_id == found.id,
                                                           ApplicationDocument.kind == kind))
    if row is None:
        raise NotFound(f"the application has no {kind} document")
    return storage.get(row.storage_key), row.media_type


def withdraw(session: Session, actor: Actor, application_id: str, reason: str) -> Application:
    found = _application(session, application_id)
    if found.person_id != actor.person_id:
        raise Forbidden("only the applicant may withdraw an application")
    owner = vacancy(session, found.vacancy_id)
    if utcnow() >= owner.closes_at:
        raise Conflict(f"registration closed at {owner.closes_at.isoformat()}; an application can no longer "
                       "be withdrawn")
    if not _move(session, found, {ApplicationState.SUBMITTED, ApplicationState.CHECKED}, ApplicationState.WITHDRAWN,
                 actor.person_id, reason):
        raise Conflict(f"the application is {found.state}; it can no longer be withdrawn")
    session.commit()
    return found


def review(session: Session, actor: Actor, application_id: str, outcome: Outcome, reason: str) -> Application:
    """A person confirms a check that needs review: met or not met."""
    found = _application(session, application_id)
    runs(session, actor, found.vacancy_id)
    if outcome is Outcome.NEEDS_REVIEW:
        raise Invalid("a review decides: met or not_met", [(["body", "outcome"], "met or not_met")])
    if found.state != ApplicationState.CHECKED.value:
        raise Conflict(f"the application is {found.state}; only a checked application is reviewed")
    findings = dict(found.findings or {})
    findings["review"] = {"outcome": outcome.value, "by": actor.person_id, "at": utcnow().isoformat(),
                          "reason": reason, "was": found.outcome}
    found.outcome, found.findings, found.updated_at = outcome.value, findings, utcnow()
    _history(session, found, ApplicationState.CHECKED, ApplicationState.CHECKED, actor.person_id,
             f"reviewed: {outcome.value}: {reason}")
    session.commit()
    return found


def accept(session: Session, actor: Actor, application_id: str, reason: str) -> Application:
    """checked (requirements met) -> accepted, within the quota: the application's own move and the
    vacancy's count are conditional UPDATEs, so acceptances made at once never pass the quota."""
    found = _application(session, application_id)
    runs(session, actor, found.vacancy_id)
    if found.state == ApplicationState.CHECKED.value and found.outcome != Outcome.MET.value:
        raise Conflict(f"the check says {found.outcome}; confirm it as met (POST ...:review) before accepting")
    if not _move(session, found, {ApplicationState.CHECKED}, ApplicationState.ACCEPTED, actor.person_id, reason,
                 outcome=Outcome.MET.value):
        raise Conflict(f"the application is {found.state}; only a checked application is accepted")
    counted = session.execute(update(Vacancy).where(Vacancy.id == found.vacancy_id, Vacancy.accepted < Vacancy.quota)
                              .values(accepted=Vacancy.accepted + 1, updated_at=utcnow()))
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("the vacancy's quota is full; no more applicants can be accepted")
    session.execute(update(Vacancy).where(Vacancy.id == found.vacancy_id, Vacancy.accepted >= Vacancy.quota,
                                          Vacancy.state == VacancyState.OPEN.value)
                    .values(state=VacancyState.CLOSED.value, closed_reason="quota"))
    _tell(session, found, "recruitment_accepted", reason)
    audit.record(session, actor, "application.accept", "application", found.id)
    session.commit()
    return found


def reject(session: Session, actor: Actor, application_id: str, reason: str) -> Application:
    found = _application(session, application_id)
    runs(session, actor, found.vacancy_id)
    if not _move(session, found, {ApplicationState.SUBMITTED, ApplicationState.CHECKED}, ApplicationState.REJECTED,
                 actor.person_id, reason):
        raise Conflict(f"the application is {found.state}; it cannot be rejected now")
    _tell(session, found, "recruitment_rejected", reason)
    audit.record(session, actor, "application.reject", "application", found.id)
    session.commit()
    return found


def history(session: Session, application_id: str) -> list[ApplicationHistory]:
    return list(session.scalars(select(ApplicationHistory).where(ApplicationHistory.application_id == application_id)
                                .order_by(ApplicationHistory.id)))


def documents_of(session: Session, application_id: str) -> list[ApplicationDocument]:
    return _documents(session, application_id)


# Activation and contract end


def activate(session: Session, actor: Actor, application_id: str, login_url: str) -> Assistantship:
    """An accepted applicant becomes an assistant for the vacancy's period: the assistant role, and a
    message with how to sign in (choosing the assistant role). Activating twice is a 409 (unique)."""
    found = _application(session, application_id)
    if found.state != ApplicationState.ACCEPTED.value:
        raise Conflict(f"the application is {found.state}; only an accepted applicant is activated")
    owner = vacancy(session, found.vacancy_id)
    person = session.get(Person, found.person_id)
    assert person is not None
    now = utcnow()
    contract = Assistantship(id=new_id(), application_id=found.id, vacancy_id=owner.id, person_id=person.id,
                             period=owner.period, status="active", activated_at=now, activated_by=actor.person_id,
                             ended_at=None, ended_by=None, end_reason=None)
    session.add(contract)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("this applicant is already activated") from exc
    if Role.ASSISTANT.value not in person.role_names:
        person.roles.append(PersonRole(role=Role.ASSISTANT.value))
        _touch(session, person)
    notify(session, topic=Topic.RECRUITMENT, template="recruitment_activated",
           context={"course": f"{owner.course_code} {owner.course_name}", "period": owner.period,
                    "number": person.number, "login_url": login_url},
           dedupe_key=f"assistantship:{contract.id}:activated", people=[person.id])
    audit.record(session, actor, "assistant.activate", "person", person.id, assistantship=contract.id)
    session.commit()
    return contract


def assistantships(session: Session, actor: Actor, vacancy_id: str | None) -> list[Assistantship]:
    query = select(Assistantship).order_by(Assistantship.activated_at, Assistantship.id)
    if vacancy_id:
        query = query.where(Assistantship.vacancy_id == vacancy_id)
    if actor.role == Role.ASSISTANT.value:
        query = query.where(Assistantship.person_id == actor.person_id)
    elif actor.role == Role.LECTURER.value:
        query = query.where(Assistantship.vacancy_id.in_(
            select(VacancyLecturer.vacancy_id).where(VacancyLecturer.person_id == actor.person_id)))
    return list(session.scalars(query.limit(1000)))


def contracts_of(session: Session, person_id: str) -> list[Assistantship]:
    """One person's own contracts, active or ended."""
    return list(session.scalars(select(Assistantship).where(Assistantship.person_id == person_id)
                                .order_by(Assistantship.activated_at, Assistantship.id)))


def assistantship(session: Session, assistantship_id: str) -> Assistantship:
    found = session.get(Assistantship, assistantship_id)
    if found is None:
        raise NotFound(f"no assistantship with id {assistantship_id}")
    return found


def end(session: Session, actor: Actor, assistantship_id: str, reason: str) -> Assistantship:
    """Ended at once: status ended; the assistant role goes unless another contract is still active;
    its refresh tokens are revoked, and access tokens carrying it fail on their next use (every request
    checks the role is still held)."""
    found = assistantship(session, assistantship_id)
    runs(session, actor, found.vacancy_id)
    done = session.execute(update(Assistantship).where(Assistantship.id == found.id, Assistantship.status == "active")
                           .values(status="ended", ended_at=utcnow(), ended_by=actor.person_id, end_reason=reason))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this contract has already ended")
    others = session.scalar(select(func.count()).select_from(Assistantship).where(
        Assistantship.person_id == found.person_id, Assistantship.status == "active", Assistantship.id != found.id))
    if not others:
        person = session.get(Person, found.person_id)
        if person is not None and Role.ASSISTANT.value in person.role_names:
            person.roles = [r for r in person.roles if r.role != Role.ASSISTANT.value]
            _touch(session, person)
        session.execute(update(RefreshToken).where(RefreshToken.person_id == found.person_id,
                                                   RefreshToken.role == Role.ASSISTANT.value,
                                                   RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    audit.record(session, actor, "assistant.end", "person", found.person_id, assistantship=found.id)
    session.commit()
    session.refresh(found)
    return found


# Helpers


def _application(session: Session, application_id: str) -> Application:
    found = session.get(Application, application_id)
    if found is None:
        raise NotFound(f"no application with id {application_id}")
    return found


def _documents(session: Session, application_id: str) -> list[ApplicationDocument]:
    return list(session.scalars(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id)
                                .order_by(ApplicationDocument.kind)))


def _move(session: Session, found: Application, sources: set[ApplicationState], target: ApplicationState,
          by: str | None, reason: str, **values: Any) -> bool:
    """One conditional UPDATE: the move happens only from ``sources``, so two moves at once cannot both."""
    now = utcnow()
    before = found.state
    done = session.execute(update(Application).where(Application.id == found.id,
                                                     Application.state.in_([s.value for s in sources]))
                           .values(state=target.value, updated_at=now, **values)
                           .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(found)
        return False
    _history(session, found, ApplicationState(before), target, by, reason)
    session.refresh(found)
    return True


def _history(session: Session, found: Application, source: ApplicationState | None, target: ApplicationState,
             by: str | None, reason: str) -> None:
    session.add(ApplicationHistory(application_id=found.id, from_state=source.value if source else None,
                                   to_state=target.value, by=by, at=utcnow(), reason=reason))


def _tell(session: Session, found: Application, template: str, reason: str) -> None:
    owner = session.get(Vacancy, found.vacancy_id)
    assert owner is not None
    notify(session, topic=Topic.RECRUITMENT, template=template,
           context={"course": f"{owner.course_code} {owner.course_name}", "period": owner.period, "reason": reason},
           dedupe_key=f"application:{found.id}:{template}", people=[found.person_id])


def _reachable(session: Session, person_id: str, email: str, whatsapp: str) -> None:
    """The applicant is told by email and WhatsApp: the application's addresses fill the contact's blanks."""
    row = session.get(Contact, person_id)
    if row is None:
        session.add(Contact(person_id=person_id, email=email, whatsapp=whatsapp, language="id",
                            whatsapp_inbound_at=None, updated_at=utcnow()))
        return
    row.email = row.email or email
    row.whatsapp = row.whatsapp or whatsapp


def _touch(session: Session, person: Person) -> None:
    person.version += 1
    person.updated_at = utcnow()
    journal.note(session, "person", person.id)

