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
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the token; the token is shown once
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_seen_from: Mapped[str | None] = mapped_column(String(64))
    acked_seq: Mapped[int] = mapped_column(BigInteger)  # the feed position the kiosk applied and acknowledged
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
