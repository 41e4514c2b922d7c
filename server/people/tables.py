"""People, their roles, consent records, and the tombstones erasure leaves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.database import Base


class Person(Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # NIM of a student, NIP of staff
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # student | staff
    active: Mapped[bool]
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)  # +1 on every change a kiosk must see
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    roles: Mapped[list[PersonRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PersonRole.role"
    )

    @property
    def role_names(self) -> list[str]:
        return [r.role for r in self.roles]


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Consent(Base):
    """One consent decision (given or withdrawn) for one purpose; the newest per purpose holds."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(36))
    recorded_at: Mapped[datetime]


class Tombstone(Base):
    """What is left of an erased person: the number (so kiosks can erase it too) and when."""

    __tablename__ = "tombstones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), index=True)
    erased_at: Mapped[datetime]
    erased_by: Mapped[str | None] = mapped_column(String(36))
