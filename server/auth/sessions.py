"""Web sessions: what a browser's cookie stands for, kept in the database so that it can be ended.

The cookie holds a random token (256 bits); the server keeps its sha256, so a cookie that was altered
in any way finds no row and is refused, and a copy of the table opens no session. A session carries
the role acted in (empty until a person holding several chose one) and its own CSRF secret. Choosing
or switching the role gives the browser a new token (the old one stops working). Sessions end at
sign-out, when they expire, and with every other login of the person (``end_all``: a password
change, deactivation, an admin signing the person out).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from server.auth.actor import Actor
from server.auth.tables import WebSession
from server.core.clock import utcnow
from server.core.errors import Invalid, Unauthenticated
from server.people.tables import Person

PREFIX = "lgs_"
SEEN_EVERY = timedelta(minutes=1)  # seen_at is written at most this often per session


@dataclass(frozen=True)
class Opened:
    token: str  # for the cookie; never stored
    csrf: str


@dataclass(frozen=True)
class Current:
    """A valid session: who, in which role (None until chosen), and its CSRF secret."""

    token_hash: str
    person: Person
    role: str | None
    csrf: str

    def actor(self) -> Actor:
        if self.role is None:
            raise Unauthenticated("choose the role to act in first")
        return Actor(self.person.id, self.person.number, self.person.name, self.role, tuple(self.person.role_names))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, person: Person, client: str, hours: float) -> Opened:
    """A new session for a person whose password was just checked; the role is set when they hold
    only one. Added to ``session``, not committed."""
    token, csrf, now = PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
    held = person.role_names
    session.add(WebSession(token_hash=digest(token), person_id=person.id, role=held[0] if len(held) == 1 else None,
                           csrf=csrf, client=client[:64], created_at=now, seen_at=now,
                           expires_at=now + timedelta(hours=hours), ended_at=None))
    return Opened(token, csrf)


def current(session: Session, token: str | None) -> Current | None:
    """The live session behind a cookie's token, or None (unknown, altered, ended, expired, or the person
    deactivated or no longer holding the role). Commits only its seen_at."""
    if not token or not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = session.get(WebSession, digest(token))
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    person = session.get(Person, row.person_id)
    if person is None or not person.active or not person.role_names:
        return None
    if row.role is not None and row.role not in person.role_names:
        return None
    if now - row.seen_at > SEEN_EVERY:
        row.seen_at = now
        session.commit()
    return Current(row.token_hash, person, row.role, row.csrf)


def choose_role(session: Session, found: Current, role: str) -> Opened:
    """Act in ``role`` (one the person holds) from now on: the session gets a new token (the old
    cookie stops working) and a new CSRF secret. Of two switches with the same token at once, one
    replaces it (the row's token is the condition of the UPDATE) and the other is refused. Committed."""
    held = found.person.role_names
    if role not in held:
        raise Invalid(f"{found.person.number} does not hold the role {role}; choose one of {', '.join(held)}",
                      [(["form", "role"], f"not held; one of {held}")])
    token, csrf = PREFIX + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    result = session.execute(update(WebSession).where(WebSession.token_hash == found.token_hash,
                                                      WebSession.ended_at.is_(None))
                             .values(token_hash=digest(token), role=role, csrf=csrf, seen_at=utcnow()))
    if result.rowcount != 1:  # type: ignore[attr-defined]  # another request replaced this token first
        session.rollback()
        raise Unauthenticated("this session was changed by another request meanwhile; sign in again")
    session.commit()
    return Opened(token, csrf)


def end(session: Session, token: str | None) -> None:
    """Sign out: the session behind this token ends (an unknown token is as good as ended). Committed."""
    if token:
        session.execute(update(WebSession).where(WebSession.token_hash == digest(token),
                                                 WebSession.ended_at.is_(None)).values(ended_at=utcnow()))
        session.commit()


def end_all(session: Session, person_id: str) -> int:
    """End every web session of a person; how many. Not committed."""
    result = session.execute(update(WebSession).where(WebSession.person_id == person_id,
                                                      WebSession.ended_at.is_(None)).values(ended_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, keep_days: int = 7) -> int:
    """Forget sessions ended or expired more than ``keep_days`` ago; how many. Not committed."""
    before = utcnow() - timedelta(days=keep_days)
    result = session.execute(delete(WebSession).where(WebSession.expires_at < before))
    ended = session.execute(delete(WebSession).where(WebSession.ended_at < before))
    return int(result.rowcount) + int(ended.rowcount)  # type: ignore[attr-defined]


def csrf_matches(found: Current, sent: str | None) -> bool:
    return bool(sent) and secrets.compare_digest(found.csrf.encode(), (sent or "").encode())

