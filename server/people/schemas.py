"""People at the edge."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from server.auth.roles import Role
from server.auth.schemas import NUMBER_PATTERN
from server.core.clock import UtcTime
from server.people.tables import Person


class Kind(StrEnum):
    STUDENT = "student"
    STAFF = "staff"


class Purpose(StrEnum):
    FACE_RECOGNITION = "face_recognition"  # templates of the face, used by kiosks and the face API
    PHOTO_STORAGE = "photo_storage"  # keeping the uploaded photos themselves


Number = Annotated[str, Field(pattern=NUMBER_PATTERN, description="NIM (students) or NIP (staff), unique",
                               examples=["2201234567"])]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S", examples=["Siti Rahma"])]


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Number
    name: Name
    kind: Kind = Kind.STUDENT
    roles: list[Role] = Field(default_factory=lambda: [Role.STUDENT], max_length=6)
    active: bool = True


class PersonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    kind: Kind | None = None
    roles: list[Role] | None = Field(default=None, max_length=6)
    active: bool | None = None


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    name: str
    kind: Kind
    roles: list[Role]
    active: bool
    has_pin: bool
    version: int
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(id=person.id, number=person.number, name=person.name, kind=Kind(person.kind),
                   roles=[Role(r) for r in person.role_names], active=person.active,
                   has_pin=person.pin_hash is not None,
                   version=person.version, created_at=person.created_at, updated_at=person.updated_at)


class PeoplePage(BaseModel):
    items: list[PersonOut]
    total: int
    offset: int
    limit: int


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits, typed at the kiosk")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    granted: bool
    note: str = Field(default="", max_length=2000,
                      description="how consent was given or withdrawn (form, signature...)")


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    purpose: Purpose
    granted: bool
    note: str
    recorded_by: str | None
    recorded_at: UtcTime


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    dry_run: bool


class ErasureOut(BaseModel):
    number: str
    erased_at: UtcTime
    events_anonymised: int
    templates_deleted: int
