"""Recruitment at the edge."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from server.core.clock import UtcTime, bounded
from server.recruitment.grades import SCALES

CODE_PATTERN = r"^[A-Z]{2,5}[0-9]{3,5}[A-Z]?$"
When = Annotated[AwareDatetime, AfterValidator(bounded)]
Reason = Annotated[str, Field(min_length=3, max_length=2000, pattern=r"\S", description="why; kept in the history")]
DocumentKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", examples=["cv", "recommendation"])]


class VacancyState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class ApplicationState(StrEnum):
    SUBMITTED = "submitted"
    CHECKED = "checked"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NEEDS_REVIEW = "needs_review"


class CourseRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, examples=["IF2110"])
    name: str = Field(default="", max_length=200, description="to find the course by name when the code differs")
    min_grade: str = Field(min_length=1, max_length=2, examples=["B"])


class VacancyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course_code: str = Field(pattern=CODE_PATTERN, examples=["IF2110"])
    course_name: str = Field(min_length=1, max_length=200, pattern=r"\S", examples=["Algoritma dan Struktur Data"])
    period: str = Field(pattern=r"^20[0-9]{2}/20[0-9]{2}-[12]$", examples=["2026/2027-1"])
    quota: int = Field(ge=1, le=500)
    opens_at: When
    closes_at: When
    description: str = Field(default="", max_length=5000)
    lecturers: list[str] = Field(default_factory=list, max_length=20,
                                 description="person ids of the lecturers who run the vacancy")
    min_ipk: float | None = Field(default=None, ge=0, le=4)
    min_semester: int | None = Field(default=None, ge=1, le=14)
    course_requirements: list[CourseRequirement] = Field(default_factory=list, max_length=20)
    required_documents: list[DocumentKind] = Field(default_factory=list, max_length=10)
    grade_scale: str = Field(default="AB", pattern="^(AB|plus-minus)$",
                             description="AB: A/AB/B/BC/C/D/E; plus-minus: A, A-, B+, B, ...")

    @model_validator(mode="after")
    def _window(self) -> VacancyIn:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        scale = SCALES[self.grade_scale]
        for wanted in self.course_requirements:
            if wanted.min_grade not in scale:
                raise ValueError(f"min_grade {wanted.min_grade!r} is not on the {self.grade_scale} scale "
                                 f"({', '.join(scale)})")
        return self


class VacancyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    course_code: str
    course_name: str
    period: str
    quota: int
    accepted: int
    opens_at: UtcTime
    closes_at: UtcTime
    description: str
    state: VacancyState
    closed_reason: str | None
    lecturers: list[str]
    min_ipk: float | None
    min_semester: int | None
    course_requirements: list[CourseRequirement]
    required_documents: list[str]
    grade_scale: dict[str, float]
    has_pamphlet: bool


class VacancyPage(BaseModel):
    items: list[VacancyOut]


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_state: str | None
    to_state: str
    by: str | None
    at: UtcTime
    reason: str


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str


class ApplicationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    vacancy_id: str
    person_id: str
    email: str
    whatsapp: str
    semester: int
    declared_ipk: float
    state: ApplicationState
    outcome: Outcome | None
    findings: dict[str, Any] | None = Field(description="the transcript check: requirements with their status "
                                                        "and evidence, the IPK read, recomputed and declared")
    documents: list[DocumentOut]
    history: list[HistoryOut]
    created_at: UtcTime


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome = Field(description="the person's confirmation: met or not_met")
    reason: Reason


class AssistantshipOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    application_id: str
    vacancy_id: str
    person_id: str
    period: str
    status: str
    activated_at: UtcTime
    ended_at: UtcTime | None
    end_reason: str | None


class AssistantshipPage(BaseModel):
    items: list[AssistantshipOut]


class AttendanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    assistantship_id: str
    room: str
    starts_at: UtcTime
    ends_at: UtcTime
    source: str
    face_score: float | None = Field(description="the photo against the assistant's templates: evidence, not a "
                                                 "verdict; null without consent or templates")
    kiosk_event_id: str | None
    confirmed_by: str | None
    confirmed_at: UtcTime | None
    recorded_at: UtcTime


class AttendancePage(BaseModel):
    items: list[AttendanceOut]


class CertificateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signatory: str = Field(min_length=3, max_length=200, pattern=r"\S", examples=["Dr. Ahmad, Kepala Lab"])


class CertificateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    assistantship_id: str
    person_name: str
    course: str
    period: str
    sessions: int
    signatory: str
    sha256: str
    issued_at: UtcTime
    verify_url: str


class VerificationOut(BaseModel):
    genuine: bool
    number: str
    person_name: str | None = None
    course: str | None = None
    period: str | None = None
    sessions: int | None = None
    issued_at: UtcTime | None = None
    sha256: str | None = Field(default=None, description="of the PDF as issued: compare with the file you hold")
