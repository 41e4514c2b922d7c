"""Vacancies, applications (one per student per vacancy), their documents and history, assistantships
(contracts), assistants' attendance and certificates.

Two rules live in the database because a race could break them: ``uq_applications_vacancy_person``
(a second application to the same vacancy fails even when both arrive at once) and
``ck_vacancies_quota`` with the conditional ``UPDATE ... SET accepted = accepted + 1 WHERE accepted <
quota`` in the service (acceptances never pass the quota).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Vacancy(Base):
    __tablename__ = "vacancies"
    __table_args__ = (CheckConstraint("accepted >= 0 AND accepted <= quota", name="quota"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    course_code: Mapped[str] = mapped_column(String(20), index=True)
    course_name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20))  # e.g. 2026/2027-1 (year and semester)
    quota: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)  # acceptances so far; never above quota
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # draft | open | closed
    closed_reason: Mapped[str | None] = mapped_column(String(20))  # lecturer | deadline | quota
    min_ipk: Mapped[float | None] = mapped_column(Float)
    min_semester: Mapped[int | None] = mapped_column(Integer)
    course_requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{code, name, min_grade}]
    required_documents: Mapped[list[str]] = mapped_column(JSON)  # beyond the transcript
    grade_scale: Mapped[dict[str, Any]] = mapped_column()  # letter -> weight
    pamphlet_key: Mapped[str | None] = mapped_column(String(200))
    pamphlet_type: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VacancyLecturer(Base):
    __tablename__ = "vacancy_lecturers"

    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("vacancy_id", "person_id", name="uq_applications_vacancy_person"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    whatsapp: Mapped[str] = mapped_column(String(20))
    semester: Mapped[int] = mapped_column(Integer)
    declared_ipk: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(12))  # submitted | checked | accepted | rejected | withdrawn
    outcome: Mapped[str | None] = mapped_column(String(14))  # met | not_met | needs_review (when checked)
    findings: Mapped[dict[str, Any] | None] = mapped_column()  # the transcript check: readings, requirements
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApplicationDocument(Base):
    __tablename__ = "application_documents"
    __table_args__ = (UniqueConstraint("application_id", "kind", name="uq_application_documents_kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # transcript | cv | ...
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApplicationHistory(Base):
    """Every change of an application's state: from, to, who, when, why."""

    __tablename__ = "application_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    by: Mapped[str | None] = mapped_column(String(36))  # a person id; none: the server itself
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class Assistantship(Base):
    """A contract: an accepted applicant made assistant for the vacancy's period, until ended."""

    __tablename__ = "assistantships"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), unique=True)
    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(8))  # active | ended
    activated_at: Mapped[datetime]
    activated_by: Mapped[str | None] = mapped_column(String(36))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(36))
    end_reason: Mapped[str | None] = mapped_column(Text)


class AssistantAttendance(Base):
    """An assistant at one practicum session: a photo as proof (with the face score when the assistant
    has consent and templates) or a kiosk event at the room during the session; the lecturer confirms."""

    __tablename__ = "assistant_attendance"
    __table_args__ = (UniqueConstraint("assistantship_id", "starts_at", name="uq_assistant_attendance_session"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    assistantship_id: Mapped[str] = mapped_column(ForeignKey("assistantships.id", ondelete="CASCADE"), index=True)
    room: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(8))  # photo | kiosk
    photo_key: Mapped[str | None] = mapped_column(String(200))
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    face_score: Mapped[float | None] = mapped_column(Float)  # evidence, not a verdict
    kiosk_event_id: Mapped[str | None] = mapped_column(String(36))
    confirmed_by: Mapped[str | None] = mapped_column(String(36))
    confirmed_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime]


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    assistantship_id: Mapped[str] = mapped_column(ForeignKey("assistantships.id", ondelete="CASCADE"), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    person_name: Mapped[str] = mapped_column(String(200))
    course: Mapped[str] = mapped_column(String(220))
    period: Mapped[str] = mapped_column(String(20))
    sessions: Mapped[int] = mapped_column(Integer)
    signatory: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime]
    issued_by: Mapped[str | None] = mapped_column(String(36))
