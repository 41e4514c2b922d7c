"""Devices at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.core.clock import UtcTime


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"\S", examples=["door LAB-1"])
    room: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$", examples=["LAB-1"])
    model_id: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="the kiosk's embedding model; default: the server's")


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"\S")
    room: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    model_id: str | None = Field(default=None, min_length=1, max_length=200)


class DeviceOut(BaseModel):
    id: str
    name: str
    room: str
    model_id: str | None
    created_at: UtcTime
    revoked: bool
    revoked_at: UtcTime | None
    last_seen_at: UtcTime | None
    last_seen_from: str | None
    acked_cursor: str = Field(description="the feed position the kiosk last acknowledged")
    acked_at: UtcTime | None
    activated_at: UtcTime | None = Field(description="when a kiosk last used a provisioning code for this device")
    activated_from: str | None = Field(description="the address it came from (check it is your kiosk's)")
    provisioning_expires_at: UtcTime | None = Field(
        description="until when the provisioning code not yet used works; null when there is none")


class DeviceDetailOut(DeviceOut):
    events: int = Field(description="events stored from this kiosk")
    max_seq: int | None
    missing_seq: list[list[int]] = Field(description="gaps in the kiosk's sequence: [first, last] ranges")
    pending_commands: int


class ProvisionedOut(BaseModel):
    """Shown once: the server keeps only a hash of the provisioning token."""

    device: DeviceOut
    provisioning_token: str = Field(description="works once, until expires_at: the kiosk exchanges it for its device "
                                                "token (POST /devices/{id}:activate); shown only now")
    expires_at: UtcTime
    qr_payload: str = Field(examples=["labgate://provision?server=https%3A%2F%2Flab.example&device=...&token=lgp_..."],
                            description="the QR code's text: server URL, device id and the provisioning token")


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provisioning_token: str = Field(min_length=1, max_length=512, description="from the QR payload")
    device_token: str = Field(pattern=r"^[A-Za-z0-9_-]{43,512}$",
                              description="a random secret the kiosk made (at least 256 bits, URL-safe base64); "
                                          "its bearer token from now on")


class ActivatedOut(BaseModel):
    device_id: str
    name: str
    room: str
    activated_at: UtcTime


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A number JSON can carry: NaN and Infinity (which Python's JSON reader lets through) are refused."""


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["resync", "restart", "reload_config"] = Field(
        description="resync: pull the feed from the start; restart: restart the kiosk app; reload_config")
    args: dict[str, str | int | FiniteFloat | bool] = Field(default_factory=dict, max_length=20)


class CommandOut(BaseModel):
    id: str
    device_id: str
    kind: str
    args: dict[str, Any]
    created_at: UtcTime
    acked_at: UtcTime | None
    ok: bool | None
    detail: str | None
