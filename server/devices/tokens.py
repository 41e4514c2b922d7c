"""Device tokens (shown once, stored as sha256) and the provisioning QR payload."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote


def new_token() -> tuple[str, str]:
    token = "lgd_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def provisioning_payload(server_url: str, device_id: str, token: str) -> str:
    """``labgate://provision?server=<url>&device=<device_id>&token=<token>`` (values URL-encoded)."""
    return (f"labgate://provision?server={quote(server_url, safe='')}&device={quote(device_id, safe='')}"
            f"&token={quote(token, safe='')}")
