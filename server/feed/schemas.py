"""The changes feed as the contract gives it (design.md, "Pull"), plus ``removed_templates``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.core.clock import UtcTime


class FeedPerson(BaseModel):
    id: str
    number: str
    name: str
    roles: list[str]
    active: bool
    pin_hash: str | None = Field(description="scrypt$N$r$p$<salt b64>$<hash b64>, or null without a PIN")
    version: int


class FeedTemplate(BaseModel):
    id: str
    number: str
    model_id: str
    vector: str = Field(description="base64 of the float32 little-endian embedding")
    quality: float


class FeedRemovedTemplate(BaseModel):
    id: str


class FeedTombstone(BaseModel):
    number: str
    erased_at: UtcTime


class FeedCommand(BaseModel):
    id: str
    kind: str
    args: dict[str, Any]


class ChangesOut(BaseModel):
    next_cursor: str = Field(examples=["c:1234"])
    has_more: bool
    people: list[FeedPerson]
    templates: list[FeedTemplate] = Field(description="only for the device's model_id")
    removed_templates: list[FeedRemovedTemplate] = Field(
        description="templates deleted (a poor photo, consent withdrawn): the kiosk drops them")
    tombstones: list[FeedTombstone] = Field(description="erased people: the kiosk erases them and acknowledges")
    bookings: list[dict[str, Any]] = Field(description=(
        "bookings of the device's room for today and tomorrow: id, room, title, holder (name), holder_number, "
        "participants (numbers), starts_at, ends_at, check_in_from, status; or {id, status, removed: true} for "
        "one that no longer holds the room"))
    config: dict[str, Any]
    qr_public_key: str = Field(description="base64 of the raw Ed25519 public key that signs QR tokens")
    commands: list[FeedCommand] = Field(description="every command not yet acknowledged")


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str = Field(min_length=1, max_length=40, examples=["c:1234"])


class AckOut(BaseModel):
    acked_cursor: str


class CommandAckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    detail: str = Field(default="", max_length=2000)


class CommandAckOut(BaseModel):
    id: str
    ok: bool | None
    acked_at: UtcTime | None


class TombstoneStatusOut(BaseModel):
    number: str
    erased_at: UtcTime
    devices_acknowledged: int = Field(description="active kiosks that applied and acknowledged the erasure")
    devices_pending: int = Field(description="active kiosks that have not yet")
