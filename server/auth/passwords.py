"""Password hashing with argon2id (argon2-cffi), cost from the settings, a bounded number at once.

Each hash takes ``argon2_memory_kib`` (64 MiB by default), so a crowd of logins, failed or not,
could take gigabytes: at most ``argon2_max_concurrent`` hashes run at once per process; the others
wait their turn up to ``argon2_wait_seconds`` and are then turned away (``server.core.turns.Busy``,
a 503 with Retry-After), having cost nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from server.core.settings import Settings
from server.core.turns import Turns

MIN_LENGTH = 10


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism, type=Type.ID,
        )
        self.turns = Turns(settings.argon2_max_concurrent, settings.argon2_wait_seconds, "checking passwords")
        self._dummy = self.hasher.hash("not a password anyone has")

    def turn(self) -> AbstractContextManager[None]:
        """Hold one of the hashing turns (``Busy`` when none came free in time); reentrant per thread, so
        a caller can take its turn before other work (the login counts the attempt inside it)."""
        return self.turns.turn()

    def hash(self, password: str) -> str:
        with self.turn():
            return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches; with nothing stored a dummy hash is checked so the time is the same."""
        with self.turn():
            try:
                return self.hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def weakness(password: str, number: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters (got {len(password)})"
    if password.strip() == "" or len(set(password)) < 4:
        return "a password needs at least 4 different characters"
    if number and number in password:
        return "a password must not contain the person's number"
    return None
