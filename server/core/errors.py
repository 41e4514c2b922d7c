"""What can go wrong in a service, as exceptions that carry a clear message and nothing of HTTP.

``server.core.problems`` turns each kind into an RFC 9457 problem with its status code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ServiceError(Exception):
    """Base: ``detail`` says what was wrong and what to do; ``errors`` lists field faults; ``extra``
    adds members to the problem (RFC 9457 extensions); ``retry_after``: seconds until a retry may work."""

    def __init__(self, detail: str, errors: Sequence[tuple[Sequence[str | int], str]] = (),
                 extra: Mapping[str, Any] | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = [(list(loc), msg) for loc, msg in errors]
        self.extra = dict(extra or {})
        self.retry_after = retry_after


class NotFound(ServiceError):
    """The thing named does not exist (or is not visible to the caller)."""


class Conflict(ServiceError):
    """The request clashes with what is stored (a duplicate number, a duplicate face)."""


class Invalid(ServiceError):
    """The request is well formed but its content breaks a rule."""


class BadRequest(ServiceError):
    """The request cannot be read at all (a malformed cursor, an undecodable file)."""


class Unauthenticated(ServiceError):
    """No credentials, or credentials that are wrong, expired or revoked."""


class Forbidden(ServiceError):
    """Authenticated, but not allowed to do this."""


class TooManyAttempts(ServiceError):
    """Rate limited; ``retry_after`` seconds until the next attempt may succeed."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)


class TooLarge(ServiceError):
    """An upload or body over its size limit."""


class UnsupportedType(ServiceError):
    """An upload of a type the endpoint does not take."""


class Unavailable(ServiceError):
    """A part the request needs is not ready (face models not built, faces disabled), or busy
    (``retry_after`` set: every turn for password hashing or face analysis is taken)."""
