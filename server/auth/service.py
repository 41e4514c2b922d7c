"""Sign in, refresh, sign out, passwords: the rules of authentication."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import limits, sessions
from server.auth.actor import Actor
from server.auth.passwords import Passwords, weakness
from server.auth.tables import Credential, RefreshToken
from server.auth.tokens import EXPIRED, AccessClaims, TokenError, digest, issue_access, new_refresh, read_access
from server.core.clock import utcnow
from server.core.errors import Invalid, NotFound, Unauthenticated
from server.core.ids import new_id
from server.core.settings import Settings
from server.people.tables import Person, PersonRole

log = logging.getLogger("labgate.auth")

WRONG = "the number or the password is wrong"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    role: str
    roles: list[str]


@dataclass(frozen=True)
class Keys:
    """What the auth rules need besides the database."""

    settings: Settings
    passwords: Passwords
    jwt_secret: bytes
    verified: dict[str, AccessClaims] = field(default_factory=dict, compare=False, repr=False)
    """Access tokens whose signature this process has checked, with their claims (``claims_of``)."""


VERIFIED_KEPT = 4096
"""Checked access tokens kept per process (a few hundred bytes each); past this the memory starts again."""


def login(session: Session, keys: Keys, number: str, password: str, role: str | None, client: str) -> Tokens:
    """Tokens for the right password and a role the person holds (``authenticate``). A person with
    several roles who named none gets ``RoleNeeded``, not tokens."""
    person = authenticate(session, keys, number, password, client)
    held = person.role_names
    if role is None and len(held) > 1:
        session.commit()
        raise RoleNeeded(number, held)
    chosen = role or held[0]
    if chosen not in held:
        session.commit()
        raise Invalid(f"{number} does not hold the role {chosen}; choose one of {', '.join(held)}",
                      [(["body", "role"], f"not held; one of {held}")], extra={"roles": held})
    tokens = _issue(session, keys, person, chosen, family=new_id())
    session.commit()
    log.info("event=login number=%s role=%s", number, chosen)
    return tokens


def authenticate(session: Session, keys: Keys, number: str, password: str, client: str) -> Person:
    """The active person with this number and password, holding at least one role: the one password
    check of the API's login and the web pages' sign-in. The attempt is counted before the password
    is checked (``limits``), inside a hashing turn (``Passwords.turn``: ``Busy`` when none came free).
    On success the limits are cleared in the session, not committed: the caller commits with what it
    issues."""
    with keys.passwords.turn():
        claimed = limits.claim(session, keys.settings, number, client)
        person = session.scalar(select(Person).where(Person.number == number))
        stored = session.get(Credential, person.id) if person else None
        if not keys.passwords.verify(stored.password_hash if stored else None, password) or person is None:
            log.info("event=login_failed number=%s client=%s", number, client)
            raise Unauthenticated(WRONG)
        if stored is not None and keys.passwords.needs_rehash(stored.password_hash):
            stored.password_hash = keys.passwords.hash(password)
    if not person.active:
        raise Unauthenticated(f"the account {number} is deactivated; ask the lab's admin")
    if not person.role_names:
        raise Unauthenticated(f"the account {number} holds no role; ask the lab's admin")
    limits.succeeded(session, keys.settings, claimed)
    return person


class RoleNeeded(Invalid):
    """The password was right, but the person holds several roles and named none: no tokens until one
    is chosen (a 422 whose ``roles`` member lists them, never a 2xx a client could take for success)."""

    def __init__(self, number: str, held: list[str]) -> None:
        super().__init__(f"{number} holds {len(held)} roles ({', '.join(held)}): sign in again naming one of them "
                         "in 'role'", [(["body", "role"], f"required for this account; one of {held}")],
                         extra={"roles": held})


def unlock(session: Session, actor: Actor, person_id: str) -> int:
    """Clear a person's failed-login counts (admin); how many there were."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    cleared = limits.unlock(session, person.number)
    audit.record(session, actor, "person.login_unlock", "person", person_id, cleared=cleared)
    session.commit()
    return cleared


def refresh(session: Session, keys: Keys, token: str) -> Tokens:
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
    now = utcnow()
    if row is None:
        raise Unauthenticated("the refresh token is not known; sign in again")
    if row.revoked_at is not None:
        raise Unauthenticated("the refresh token was revoked; sign in again")
    if row.expires_at <= now:
        raise Unauthenticated("the refresh token has expired; sign in again")
    claimed = session.execute(
        update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None)).values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        _revoke_family(session, row.family_id)
        session.commit()
        log.warning("event=refresh_reuse person=%s family=%s", row.person_id, row.family_id)
        raise Unauthenticated("this refresh token was already used; every session of that login is now revoked, "
                              "sign in again")
    person = session.get(Person, row.person_id)
    if person is None or not person.active or row.role not in person.role_names:
        session.rollback()
        raise Unauthenticated("the account or its role is no longer active; sign in again")
    tokens = _issue(session, keys, person, row.role, family=row.family_id)
    session.commit()
    return tokens


def logout(session: Session, token: str) -> None:
    """Revoke the login the refresh token belongs to; an unknown token is already as good as revoked."""
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
    if row is not None:
        _revoke_family(session, row.family_id)
        session.commit()


def revoke_sessions(session: Session, actor: Actor, person_id: str) -> int:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    count = revoke_all(session, person_id)
    audit.record(session, actor, "person.sessions_revoke", "person", person_id, revoked=count)
    session.commit()
    return count


PEOPLE, ROLES = Person.__table__, PersonRole.__table__
ACTOR = (select(PEOPLE.c.number, PEOPLE.c.name, PEOPLE.c.active, ROLES.c.role)
         .select_from(PEOPLE.outerjoin(ROLES, ROLES.c.person_id == PEOPLE.c.id))
         .where(PEOPLE.c.id == bindparam("person_id")))
"""A person and their roles, one row per role: one query on two primary keys (people.id and
person_roles' (person_id, role)), with no ORM objects made."""


def actor_for(session: Session, keys: Keys, token: str) -> Actor:
    """The person behind a valid access token, checked against the database on every call (active,
    role still held), so deactivating a person or taking a role stops their tokens at once."""
    return actor_of(session, claims_of(keys, token))


def claims_of(keys: Keys, token: str) -> AccessClaims:
    """What a valid access token says (signature, expiry, kind): no database. A token's signature is
    checked once per process (a JWT's decoding was a tenth of a signed-in GET's work); its expiry on
    every call."""
    claims = keys.verified.get(token)
    if claims is None:
        try:
            claims = read_access(keys.jwt_secret, token)
        except TokenError as exc:
            raise Unauthenticated(str(exc)) from exc
        if len(keys.verified) >= VERIFIED_KEPT:
            keys.verified.clear()
        keys.verified[token] = claims
    elif claims.expires <= time.time():
        keys.verified.pop(token, None)
        raise Unauthenticated(EXPIRED)
    return claims


def actor_of(session: Session, claims: AccessClaims) -> Actor:
    """The person a token's claims name, if they still exist, are active and hold the claimed role."""
    return actor_from(session.connection().execute(ACTOR, {"person_id": claims.person_id}).all(), claims)


def actor_from(rows: Sequence[Any], claims: AccessClaims) -> Actor:
    """``Actor`` from ACTOR's rows (number, name, active, role) for the person the claims name."""
    if not rows or not rows[0].active:
        raise Unauthenticated("the account behind this token no longer exists or is deactivated")
    roles = tuple(sorted(row.role for row in rows if row.role is not None))
    if claims.role not in roles:
        raise Unauthenticated(f"the role {claims.role} was taken from this account; sign in again")
    return Actor(claims.person_id, rows[0].number, rows[0].name, claims.role, roles)


def set_password(session: Session, keys: Keys, actor: Actor | None, person_id: str, password: str) -> None:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    problem = weakness(password, person.number)
    if problem:
        raise Invalid(problem, [(["body", "password"], problem)])
    _store(session, keys, person_id, password)
    revoke_all(session, person_id)
    audit.record(session, actor, "person.password_set", "person", person_id)
    session.commit()


def change_own_password(session: Session, keys: Keys, actor: Actor, current: str, new: str) -> None:
    stored = session.get(Credential, actor.person_id)
    if not keys.passwords.verify(stored.password_hash if stored else None, current):
        raise Invalid("the current password is wrong", [(["body", "current_password"], "wrong password")])
    problem = weakness(new, actor.number)
    if problem:
        raise Invalid(problem, [(["body", "new_password"], problem)])
    _store(session, keys, actor.person_id, new)
    revoke_all(session, actor.person_id)
    audit.record(session, actor, "me.password_change", "person", actor.person_id)
    session.commit()


def _store(session: Session, keys: Keys, person_id: str, password: str) -> None:
    stored = session.get(Credential, person_id)
    hashed = keys.passwords.hash(password)
    if stored is None:
        session.add(Credential(person_id=person_id, password_hash=hashed, changed_at=utcnow()))
    else:
        stored.password_hash, stored.changed_at = hashed, utcnow()


def _issue(session: Session, keys: Keys, person: Person, role: str, family: str) -> Tokens:
    access, ttl = issue_access(keys.jwt_secret, person.id, role, keys.settings.access_token_minutes)
    token, hashed = new_refresh()
    now = utcnow()
    session.add(RefreshToken(
        id=new_id(), person_id=person.id, family_id=family, token_hash=hashed, role=role, created_at=now,
        expires_at=now + timedelta(days=keys.settings.refresh_token_days), used_at=None, revoked_at=None,
    ))
    return Tokens(access, ttl, token, role, person.role_names)


def _revoke_family(session: Session, family_id: str) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def revoke_all(session: Session, person_id: str) -> int:
    """Sign a person out everywhere: every refresh token revoked and every web session ended; how many
    refresh tokens were revoked. Not committed."""
    result = session.execute(update(RefreshToken).where(RefreshToken.person_id == person_id,
                                                        RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    sessions.end_all(session, person_id)
    return int(result.rowcount)  # type: ignore[attr-defined]
