"""Access tokens: short JWTs (HS256) naming the person and the active role. Refresh tokens: random."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from server.core.clock import utcnow

ISSUER = "labgate"
ALGORITHM = "HS256"


class TokenError(ValueError):
    """The token is not one of ours, or expired, or of the wrong kind."""


@dataclass(frozen=True)
class AccessClaims:
    person_id: str
    role: str
    expires_at: datetime

    @property
    def expires(self) -> float:
        """``expires_at`` in seconds since the epoch."""
        return self.expires_at.timestamp()


EXPIRED = "the access token has expired; get a new one with POST /api/v1/auth/refresh"


def issue_access(secret: bytes, person_id: str, role: str, minutes: int) -> tuple[str, int]:
    now = utcnow()
    claims = {
        "iss": ISSUER, "sub": person_id, "role": role, "typ": "access", "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def read_access(secret: bytes, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError(EXPIRED) from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"the access token is not valid ({exc}); sign in again") from exc
    if claims.get("typ") != "access" or not isinstance(claims.get("role"), str):
        raise TokenError("this is not an access token; sign in again")
    return AccessClaims(str(claims["sub"]), claims["role"], datetime.fromtimestamp(claims["exp"]).astimezone())


def new_refresh() -> tuple[str, str]:
    """(token, sha256 hex of it): the token goes to the client, only the hash is stored."""
    token = "lgr_" + secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
