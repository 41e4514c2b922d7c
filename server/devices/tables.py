"""Kiosks and the commands queued for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    room: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(200))  # templates in the feed are for this model
    # sha256 of the device token the kiosk chose at activation (its bearer token); None until then
    token_hash: Mapped[str | None] = mapped_column(String(64))
    # The one-time provisioning token (in the QR code): its sha256, until when it works, when and from
    # where it was used. Shown once; exchanged once for the device token (POST /devices/{id}:activate).
    provision_hash: Mapped[str | None] = mapped_column(String(64))
    provision_expires_at: Mapped[datetime | None]
    provision_used_at: Mapped[datetime | None]
    provision_used_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_seen_from: Mapped[str | None] = mapped_column(String(64))
    acked_seq: Mapped[int] = mapped_column(BigInteger)  # the feed position the kiosk applied and acknowledged
    # every event seq up to this one has arrived (presence.sequence looks for gaps above it); only rises
    seq_contiguous: Mapped[int] = mapped_column(BigInteger, server_default="0")
    acked_at: Mapped[datetime | None]


class DeviceCommand(Base):
    __tablename__ = "device_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(36))
    acked_at: Mapped[datetime | None]
    ok: Mapped[bool | None]
    detail: Mapped[str | None] = mapped_column(Text)
