"""Password hashing with argon2id (argon2-cffi), cost from the settings."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from server.core.settings import Settings

MIN_LENGTH = 10


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism, type=Type.ID,
        )
        self._dummy = self.hasher.hash("not a password anyone has")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches; with nothing stored a dummy hash is checked so the time is the same."""
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
