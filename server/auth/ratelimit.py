"""Failed-login limits, kept in the database so every server process counts the same failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.auth.tables import LoginFailure
from server.core.clock import utcnow
from server.core.errors import TooManyAttempts
from server.core.settings import Settings


def check(session: Session, settings: Settings, number: str, client: str) -> None:
    """Raise ``TooManyAttempts`` while the number or the client address is over its limit."""
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    for column, value, limit, what in (
        (LoginFailure.number, number, settings.login_max_failures, f"number {number}"),
        (LoginFailure.client, client, settings.login_client_max_failures, f"address {client}"),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == value, LoginFailure.at > since)
        ).one()
        if count >= limit and oldest is not None:
            retry = max(1, int((oldest - since).total_seconds()) + 1)
            raise TooManyAttempts(
                f"too many failed logins for {what} ({count} in {settings.login_window_seconds} s); "
                f"try again in {retry} s", retry_after=retry,
            )


def record_failure(session: Session, number: str, client: str) -> None:
    session.add(LoginFailure(number=number[:64], client=client[:64], at=utcnow()))
    session.commit()


def clear(session: Session, number: str, settings: Settings) -> None:
    """A successful login forgets the number's failures (and prunes old rows of everyone)."""
    stale = utcnow() - timedelta(seconds=settings.login_window_seconds)
    session.execute(delete(LoginFailure).where((LoginFailure.number == number) | (LoginFailure.at < stale)))
