"""Bookings at the edge: what clients send (validated here, each fault naming its field) and get back."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from server.bookings.recurrence import RuleProblem, check, zone
from server.core.clock import LabTime, UtcTime

HOURS = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            zone(value)
        except RuleProblem as exc:
            raise ValueError(str(exc)) from exc
    return value


def _rule(value: str | None) -> str | None:
    if value is not None:
        try:
            return check(value)
        except RuleProblem as exc:
            raise ValueError(str(exc)) from exc
    return value


Zone = Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Jakarta"]), AfterValidator(_zone)]
Rule = Annotated[str, Field(min_length=1, max_length=500, examples=["FREQ=WEEKLY;BYDAY=TU,TH;COUNT=32"]),
                 AfterValidator(_rule)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Scope(StrEnum):
    THIS = "this"
    FOLLOWING = "following"
    SERIES = "series"


class RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", examples=["LAB-1"])
    name: Text
    capacity: int = Field(default=30, ge=1, le=10_000)
    opening_hours: dict[str, list[str]] | None = Field(
        default=None, description="per weekday (mon..sun) [opens, closes] as HH:MM in the lab's time zone; a "
                                  "weekday missing is closed; null: always open",
        examples=[{"mon": ["07:00", "21:00"], "tue": ["07:00", "21:00"]}])
    needs_approval: bool = False
    check_in_required: bool = True
    auto_release_minutes: int = Field(default=10, ge=1, le=240)
    check_in_opens_minutes: int = Field(default=10, ge=0, le=240)
    buffer_minutes: int = Field(default=0, ge=0, le=240)
    max_ahead_days: int = Field(default=180, ge=1, le=730)
    min_minutes: int = Field(default=15, ge=1, le=1440)
    max_minutes: int = Field(default=480, ge=1, le=1440)
    no_show_limit: int | None = Field(default=None, ge=1, le=100, description=(
        "a student with this many no-shows in the current term needs approval here; null: never"))

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        for day, span in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
            if len(span) != 2 or not all(HOURS.match(t) for t in span) or span[0] >= span[1]:
                raise ValueError(f"{day}: give [opens, closes] as HH:MM with opens before closes (got {span})")
        return value

    @model_validator(mode="after")
    def _durations(self) -> RoomIn:
        if self.min_minutes > self.max_minutes:
            raise ValueError("min_minutes must not exceed max_minutes")
        return self


class RoomPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    needs_approval: bool | None = None
    check_in_required: bool | None = None
    auto_release_minutes: int | None = Field(default=None, ge=1, le=240)
    check_in_opens_minutes: int | None = Field(default=None, ge=0, le=240)
    no_show_limit: int | None = Field(default=None, ge=1, le=100)


class RoomOut(BaseModel):
    id: str
    code: str
    name: str
    capacity: int
    opening_hours: dict[str, list[str]] | None
    needs_approval: bool
    check_in_required: bool
    auto_release_minutes: int
    check_in_opens_minutes: int
    buffer_minutes: int
    max_ahead_days: int
    min_minutes: int
    max_minutes: int
    no_show_limit: int | None
    seats: list[SeatOut]
    kiosks: list[str] = Field(description="ids of the kiosks at this room's door (devices registered for its code)")


class SeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", examples=["PC-01"])
    name: Text


class SeatOut(BaseModel):
    id: str
    code: str
    name: str


class BookingIn(BaseModel):
    """One booking, or a series with ``rrule`` (its first occurrence is ``starts_at``..``ends_at``)."""

    model_config = ConfigDict(extra="forbid")

    room_id: str = Field(min_length=1, max_length=36)
    seat_id: str | None = Field(default=None, min_length=1, max_length=36)
    title: Text
    starts_at: LabTime = Field(description="with an offset, or wall-clock time in `timezone`")
    ends_at: LabTime
    timezone: Zone | None = Field(default=None, description="IANA zone of the wall-clock times; default the lab's")
    participants: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=200, description="numbers (NIM/NIP) of the other people")
    rrule: Rule | None = Field(default=None, description="RFC 5545 RRULE: FREQ=DAILY|WEEKLY, INTERVAL, BYDAY, "
                                                         "COUNT or UNTIL")
    skip_clashes: bool = Field(default=False, description="a series with clashes: create the other dates and list "
                                                          "the skipped ones (default: refuse, listing every clash)")
    holder: str | None = Field(default=None, min_length=1, max_length=40,
                               description="book for someone else (their number): head and admin only")

    @model_validator(mode="after")
    def _order(self) -> BookingIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at (a booking has a length)")
        if (self.starts_at.tzinfo is None) != (self.ends_at.tzinfo is None):
            raise ValueError("give both starts_at and ends_at with an offset, or neither")
        return self


class BookingPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = None
    starts_at: LabTime | None = None
    ends_at: LabTime | None = None
    participants: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(default=None,
                                                                                          max_length=200)

    @model_validator(mode="after")
    def _order(self) -> BookingPatch:
        if (self.starts_at is None) != (self.ends_at is None):
            raise ValueError("move a booking with both starts_at and ends_at")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at (a booking has a length)")
        return self


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class BookingOut(BaseModel):
    id: str
    room_id: str
    room: str
    seat_id: str | None
    series_id: str | None
    title: str
    starts_at: UtcTime
    ends_at: UtcTime
    status: str
    holder: str | None = Field(description="the holder's number; null when the caller may not see it")
    holder_name: str | None
    participants: list[str]
    checked_in_at: UtcTime | None
    check_in_method: str | None
    note: str


class ClashOut(BaseModel):
    starts_at: UtcTime
    ends_at: UtcTime
    kind: Literal["booking", "blackout"]
    booking_id: str | None = None
    holder: str | None = Field(default=None, description="shown only to staff and to the holder")
    title: str | None = None


class SkippedOut(BaseModel):
    starts_at: UtcTime
    clashes: list[ClashOut]


class BookedOut(BaseModel):
    series_id: str | None
    bookings: list[BookingOut]
    skipped: list[SkippedOut] = Field(description="dates of the series left out for their clashes")
    waived: list[str] = Field(description="rules the caller's role let pass")


class ChangedOut(BaseModel):
    bookings: list[BookingOut]
    rejected: list[BookingOut] = Field(default_factory=list, description="pending bookings an approval rejected")


class SpanOut(BaseModel):
    starts_at: UtcTime
    ends_at: UtcTime
    seat_id: str | None
    status: str


class BlackoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_id: str | None = Field(default=None, max_length=36, description="null: every room")
    title: Text
    starts_at: LabTime
    ends_at: LabTime
    timezone: Zone | None = None
    rrule: Rule | None = None
    cancel_hits: bool = Field(default=False, description="cancel the bookings it hits (telling their holders); "
                                                         "default: only list them")

    @model_validator(mode="after")
    def _order(self) -> BlackoutIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class BlackoutOut(BaseModel):
    id: str
    room_id: str | None
    title: str
    starts_at: UtcTime
    ends_at: UtcTime
    rrule: str | None
    timezone: str


class BlackoutMadeOut(BaseModel):
    blackout: BlackoutOut
    hits: list[BookingOut]
    cancelled: int


class NoShowOut(BaseModel):
    number: str
    name: str
    no_shows: int
    bookings: int


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_id: str | None = Field(default=None, max_length=36)
    person: str | None = Field(default=None, min_length=1, max_length=40,
                               description="a person's number (yourself unless head or admin)")

    @model_validator(mode="after")
    def _one(self) -> CalendarIn:
        if (self.room_id is None) == (self.person is None):
            raise ValueError("name a room_id or a person, one of them")
        return self


class CalendarOut(BaseModel):
    id: str
    url: str = Field(description="secret: whoever has it reads the calendar until it is revoked")
    room_id: str | None
    person_id: str | None


class ReleasedOut(BaseModel):
    released: int
    completed: int
    noted: int


def opening(value: Any) -> dict[str, list[str]] | None:
    return value if isinstance(value, dict) else None


__all__ = ["BookedOut", "BookingIn", "BookingOut", "Scope", "datetime"]
