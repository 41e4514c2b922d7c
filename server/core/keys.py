"""Server secrets kept in the database (JWT key, QR signing key) when the environment gives none, so
every process of one deployment signs with the same key and a restart keeps it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from server.core.clock import utcnow
from server.core.database import Base, Database


class ServerKey(Base):
    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


def stored_secret(database: Database, name: str, make: Callable[[], str]) -> str:
    """The secret called ``name``; made with ``make`` and stored the first time (first writer wins)."""
    with database.session() as session:
        found = session.scalar(select(ServerKey.value).where(ServerKey.name == name))
        if found is not None:
            return found
        session.add(ServerKey(name=name, value=make(), created_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:  # another process made it first: use theirs
            session.rollback()
        value = session.scalar(select(ServerKey.value).where(ServerKey.name == name))
        assert value is not None
        return value
