"""Failed-login limits that keep guessing out without letting strangers lock people out.

Every login attempt is counted *before* its password is checked, by one atomic UPDATE per count in
the database (a row lock on PostgreSQL, the write lock on SQLite), so parallel attempts, from one
process or many, can never all be checked: the count decides which ones are.

Three counts (docs/server.md, "Failed logins"):

- a number from one address: ``login_max_failures`` attempts, then each further one waits a delay
  that doubles (``login_delay_seconds`` up to ``login_max_delay_seconds``); a success clears it;
- a number from addresses it never signed in from (``login_number_max_failures``): guessing from
  many addresses slows down, while the person's own addresses are not delayed by it;
- an address for numbers never signed in from it (``login_client_max_failures``): one address
  trying many numbers slows down, while people who signed in from it before (a lab behind one NAT
  address) are not delayed by it.

An address is a number's own for ``login_known_days`` after a successful login from it. A count is
forgotten after ``login_window_seconds`` without an attempt or a delay. An admin can clear a number's
counts (``unlock``). Times are epoch milliseconds (integers), so the delay is computed inside the UPDATE.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import BigInteger, ColumnElement, Executable, Update, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.auth.tables import LoginKnown, LoginLimit
from server.core.clock import utcnow
from server.core.errors import TooManyAttempts
from server.core.settings import Settings

log = logging.getLogger("labgate.auth")

FIELD = 64  # longest number or address kept in a key


@dataclass(frozen=True)
class Count:
    """One count an attempt is made against."""

    key: str
    threshold: int
    refused: str  # why a delayed attempt is refused, with what to do


@dataclass(frozen=True)
class Claimed:
    """The counts an attempt was made against (a success gives some of them back)."""

    number: str
    client: str
    counts: tuple[Count, ...]


def counts(settings: Settings, number: str, client: str, known: bool) -> tuple[Count, ...]:
    number, client = number[:FIELD], client[:FIELD]
    found = [Count(f"pair {number} {client}", settings.login_max_failures,
                   f"too many failed logins for {number} from {client}; each failure doubles the wait. "
                   "Ask an admin to unlock the account if it is yours")]
    if not known:
        found += [
            Count(f"number {number}", settings.login_number_max_failures,
                  f"too many failed logins for {number} from addresses it never signed in from; sign in from "
                  "an address you used before, or ask an admin to unlock the account"),
            Count(f"client {client}", settings.login_client_max_failures,
                  f"too many failed logins from {client} for numbers never signed in from there"),
        ]
    return tuple(sorted(found, key=lambda c: c.key))  # one order everywhere: no deadlock between claims


def known(session: Session, settings: Settings, number: str, client: str) -> bool:
    """Did ``number`` sign in from ``client`` within ``login_known_days``?"""
    since = utcnow() - timedelta(days=settings.login_known_days)
    return session.scalar(select(LoginKnown.number).where(
        LoginKnown.number == number[:FIELD], LoginKnown.client == client[:FIELD],
        LoginKnown.last_success_at > since)) is not None


def claim(session: Session, settings: Settings, number: str, client: str) -> Claimed:
    """Count one attempt against every count that applies, and commit; ``TooManyAttempts`` (nothing
    counted) while one of them is delaying attempts."""
    now = _now_ms()
    applied = counts(settings, number, client, known(session, settings, number, client))
    for count in applied:
        session.execute(_ensure(session, count.key, now))
        if session.execute(_bump(count, now, settings)).first() is None:
            session.rollback()
            until = session.scalar(select(LoginLimit.blocked_until).where(LoginLimit.key == count.key)) or now + 1
            wait = max(1, math.ceil((until - now) / 1000))
            log.info("event=login_delayed key=%r retry_after=%d", count.key, wait)
            raise TooManyAttempts(f"{count.refused}; try again in {wait} s", retry_after=wait)
    session.commit()
    return Claimed(number[:FIELD], client[:FIELD], applied)


def succeeded(session: Session, settings: Settings, claimed: Claimed) -> None:
    """A right password: the number's count from this address is cleared, the attempt is given back to
    the wider counts, and the address becomes the number's own. Stale counts are pruned. Not committed."""
    now = _now_ms()
    for count in claimed.counts:
        if count.key.startswith("pair "):
            session.execute(delete(LoginLimit).where(LoginLimit.key == count.key))
        else:
            session.execute(_give_back(count))
    found = session.get(LoginKnown, (claimed.number, claimed.client))
    if found is None:
        session.add(LoginKnown(number=claimed.number, client=claimed.client, last_success_at=utcnow()))
    else:
        found.last_success_at = utcnow()
    stale = now - settings.login_window_seconds * 1000
    session.execute(delete(LoginLimit).where(LoginLimit.last_at < stale, or_(
        LoginLimit.blocked_until.is_(None), LoginLimit.blocked_until < stale)))
    session.execute(delete(LoginKnown).where(
        LoginKnown.last_success_at < utcnow() - timedelta(days=settings.login_known_days)))


def unlock(session: Session, number: str) -> int:
    """Forget every count of ``number`` (from every address); how many there were. Not committed."""
    number = number[:FIELD]
    result = session.execute(delete(LoginLimit).where(or_(
        LoginLimit.key == f"number {number}", LoginLimit.key.startswith(f"pair {number} ", autoescape=True))))
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget(session: Session, number: str) -> None:
    """Erasure: the number's counts and its known addresses go. Not committed."""
    unlock(session, number)
    session.execute(delete(LoginKnown).where(LoginKnown.number == number[:FIELD]))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ensure(session: Session, key: str, now: int) -> Executable:
    """INSERT the count's row unless it is there (ON CONFLICT DO NOTHING on both databases)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(LoginLimit).values(key=key, failures=0, last_at=now, blocked_until=None) \
        .on_conflict_do_nothing(index_elements=["key"])


def _bump(count: Count, now: int, settings: Settings) -> Update:
    """One more attempt, unless the count is delaying attempts now (then no row comes back). A count
    quiet for the window starts again at 1; from the threshold on, each attempt sets the next delay."""
    row = LoginLimit.__table__.c
    at = literal(now, BigInteger)  # typed: PostgreSQL would take a bare parameter for a 32-bit integer
    quiet = func.coalesce(row.blocked_until, row.last_at) < at - settings.login_window_seconds * 1000
    failures = case((quiet, 1), else_=row.failures + 1)
    delay = _delay(failures - count.threshold, settings)
    return (update(LoginLimit)
            .where(row.key == count.key, func.coalesce(row.blocked_until, 0) <= at)
            .values(failures=failures, last_at=at,
                    blocked_until=case((failures >= count.threshold, at + delay), else_=None))
            .returning(row.failures))


def _delay(over: ColumnElement[int], settings: Settings) -> ColumnElement[int]:
    """``login_delay_seconds`` doubled ``over`` times, at most ``login_max_delay_seconds``, in
    milliseconds (a shift, which both databases compute on integers)."""
    base, cap = settings.login_delay_seconds * 1000, settings.login_max_delay_seconds * 1000
    steps = 0
    while (base << steps) < cap:
        steps += 1
    return case((over >= steps, literal(cap, BigInteger)), else_=literal(base, BigInteger).op("<<")(over))


def _give_back(count: Count) -> Update:
    """Take back one attempt that turned out right; a delay it started goes with it."""
    row = LoginLimit.__table__.c
    return (update(LoginLimit).where(row.key == count.key, row.failures > 0)
            .values(failures=row.failures - 1,
                    blocked_until=case((row.failures - 1 >= count.threshold, row.blocked_until), else_=None)))
