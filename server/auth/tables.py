"""Passwords, refresh tokens and failed logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.database import Base


class Credential(Base):
    __tablename__ = "credentials"

    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    changed_at: Mapped[datetime]


class RefreshToken(Base):
    """One refresh token (only its sha256 kept). A family is one login; using a token replaces it,
    and using a replaced token again revokes the whole family (it was stolen or replayed)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginLimit(Base):
    """One failed-login count (``server.auth.limits``): of a number from one address, of a number from
    addresses it never signed in from, or of an address for numbers never signed in from it. Times
    are epoch milliseconds so that one UPDATE can compute the next delay on SQLite and PostgreSQL."""

    __tablename__ = "login_limits"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[int] = mapped_column(BigInteger, index=True)  # the latest counted attempt
    blocked_until: Mapped[int | None] = mapped_column(BigInteger)  # no attempt is counted or checked before this


class LoginKnown(Base):
    """An address a number signed in from: its own failures do not count against the number, and
    failures of others from there do not delay it."""

    __tablename__ = "login_known"

    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser (``server.auth.sessions``): the cookie carries a random token, only its sha256
    is kept. ``role`` is empty until a person holding several roles chose one; ``csrf`` is the secret
    every form of the session carries. Ended (``ended_at``) at sign-out, by an admin or when the
    person's password changes; a row past ``expires_at`` is worth nothing."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    csrf: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
