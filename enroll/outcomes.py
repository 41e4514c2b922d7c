"""What the enrolment service answers: a refusal (nothing saved) and why, what was saved, and the
reports of a folder or bundle import. Shared by the service and its parts (folder, bundle, reembed),
read by the screen and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from enroll.capture import REASONS
from enroll.checks import Split

UNREADABLE = "unreadable"


class EnrolmentRefused(Exception):
    """Nothing was saved: ``kind`` is consent | too_few | inconsistent | duplicate | invalid | crop_key; the
    message says what the technician can do. ``collisions`` names whom a duplicate matches."""

    def __init__(self, kind: str, message: str, collisions: tuple[CollisionView, ...] = (),
                 split: Split | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.collisions = collisions
        self.split = split


@dataclass(frozen=True)
class CollisionView:
    number: str
    name: str
    score: float
    shots: int
    active: bool

    def describe(self) -> str:
        who = f"{self.name} ({self.number})" if self.name else self.number
        return f"{who}{'' if self.active else ', inactive'}: score {self.score:.2f}"


@dataclass(frozen=True)
class Saved:
    number: str
    model_id: str
    templates: int
    crops: int


@dataclass(frozen=True)
class PhotoRejection:
    number: str
    photo: Path
    reasons: tuple[str, ...]
    detail: str = ""

    def describe(self) -> str:
        text = "; ".join(REASONS.get(r, r) for r in self.reasons if r != UNREADABLE)
        return ", ".join(t for t in (text, self.detail) if t)


@dataclass(frozen=True)
class PersonOutcome:
    number: str
    name: str
    status: str  # enrolled | refused | checked (a dry run)
    photos: int  # photos (or templates) offered
    used: int  # photos that passed and were used
    kind: str = ""  # the refusal's kind
    message: str = ""


@dataclass
class ImportReport:
    people: list[PersonOutcome] = field(default_factory=list)
    rejected: list[PhotoRejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> list[PersonOutcome]:
        return [p for p in self.people if p.status in ("enrolled", "checked")]

    @property
    def refused(self) -> list[PersonOutcome]:
        return [p for p in self.people if p.status == "refused"]
