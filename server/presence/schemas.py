"""Events (the contract's wire format), batch replies, attendance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from server.auth.schemas import NUMBER_PATTERN
from server.core.clock import YEARS, LabDay, UtcTime, bounded

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
MAX_SEQ = 2**63 - 1


def _event_rules(schema: dict[str, Any]) -> None:
    """The rules between fields (``_consistent``), in the JSON Schema too: exactly one of four shapes."""
    number, text, null = {"type": "number"}, {"type": "string"}, {"type": "null"}
    face = {"score": number, "margin": number, "model_id": text}
    schema["oneOf"] = [
        {"title": "a recognised face", "properties": {
            "outcome": {"const": "accept"}, "method": {"const": "face"}, "person": text, **face}},
        {"title": "an unknown face", "properties": {
            "outcome": {"const": "unknown"}, "method": {"const": "face"}, "person": null, **face}},
        {"title": "a photo or screen held up (liveness: score is the live score, model_id the liveness models)",
         "properties": {"outcome": {"const": "spoof"}, "method": {"const": "face"}, "person": null, **face}},
        {"title": "a PIN, QR or manual entry", "properties": {
            "outcome": {"const": "accept"}, "method": {"enum": ["pin", "qr", "manual"]}, "person": text,
            "score": null, "margin": null, "model_id": null}},
    ]


class EventIn(BaseModel):
    """One kiosk event (design.md, "Event"); each event of a batch is checked on its own."""

    model_config = ConfigDict(extra="forbid", title="Event", json_schema_extra=_event_rules)

    id: str = Field(pattern=UUID_PATTERN, description="UUIDv7 made on the device, lower-case canonical form")
    seq: StrictInt = Field(ge=1, le=MAX_SEQ, description="the device's monotonic sequence, from 1")
    person: str | None = Field(pattern=NUMBER_PATTERN, description="NIM/NIP, or null for an unknown face")
    outcome: Literal["accept", "unknown", "spoof"]
    method: Literal["face", "pin", "qr", "manual"]
    score: float | None = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    margin: float | None = Field(ge=-2.0, le=2.0, allow_inf_nan=False)
    model_id: str | None = Field(min_length=1, max_length=200)
    captured_at: Annotated[AwareDatetime, AfterValidator(bounded)] = Field(
        description="UTC, ISO 8601 with Z; from 2000-01-01 to 2100-12-31", json_schema_extra={"pattern": YEARS})
    clock_suspect: StrictBool

    @field_validator("seq", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """JSON does not tell 7 from 7.0 (JSON Schema calls both integers); 7.5 or "7" stay refused."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("captured_at", mode="before")
    @classmethod
    def _text_time(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError("iso_time", "must be an ISO 8601 time string with a zone, like "
                                                  "2026-11-22T08:15:02.123Z")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EventIn:
        if self.outcome == "accept" and self.person is None:
            raise PydanticCustomError("rule", "person: an accepted event names the person (got null)")
        if self.outcome in ("unknown", "spoof") and (self.person is not None or self.method != "face"):
            raise PydanticCustomError("rule", "person/method: an {outcome} event is a face with person null",
                                      {"outcome": self.outcome})
        face_fields = {"score": self.score, "margin": self.margin, "model_id": self.model_id}
        if self.method == "face":
            missing = [k for k, v in face_fields.items() if v is None]
            if missing:
                raise PydanticCustomError("rule", "{fields}: a face event carries score, margin and model_id",
                                          {"fields": ", ".join(missing)})
        else:
            present = [k for k, v in face_fields.items() if v is not None]
            if present:
                raise PydanticCustomError("rule", "{fields}: only face events carry score, margin and model_id "
                                                  "(null for {method})", {"fields": ", ".join(present),
                                                                          "method": self.method})
        return self


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(
        min_length=1, max_length=1000,
        description="1 to 1000 Events. Each is checked on its own: an invalid one (even one that is not a JSON "
                    "object) comes back 'rejected' with the reason, and the others are stored.",
    )


class EventResult(BaseModel):
    id: str | None = Field(description="the event's id as sent (null when it had no string id)")
    status: Literal["accepted", "duplicate", "conflict", "rejected"]
    reason: str | None


class BatchOut(BaseModel):
    results: list[EventResult] = Field(description="one per event, in the order sent")
    server_time: UtcTime
    missing_seq: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="[first, last] ranges of seq numbers the server has not received")


class StoredEventOut(BaseModel):
    device_id: str
    id: str
    seq: int
    person: str | None
    number_known: bool
    outcome: str
    method: str
    score: float | None
    margin: float | None
    model_id: str | None
    captured_at: UtcTime
    clock_suspect: bool
    received_at: UtcTime


class AttendanceDayOut(BaseModel):
    day: date
    person_id: str
    number: str
    name: str
    present: bool
    first_seen: UtcTime | None
    last_seen: UtcTime | None
    events: int
    clock_suspect: bool = Field(description="some of the day's events came from a kiosk doubting its clock")
    source: Literal["kiosk", "correction"]
    reason: str | None = Field(description="the correction's reason")


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(min_length=1, max_length=64)
    day: LabDay
    present: bool
    reason: str = Field(min_length=3, max_length=2000, pattern=r"\S", description="why; kept in the audit log")


class CorrectionOut(BaseModel):
    id: str
    person_id: str
    day: date
    present: bool
    reason: str
    corrected_by: str | None
    corrected_at: UtcTime
