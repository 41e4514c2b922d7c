"""Device secrets as the server keeps them (sha256 only) and the provisioning QR payload.

Two tokens per kiosk: the **provisioning token** (``lgp_...``) the admin gets once, in the QR code,
short-lived and good for one activation; and the **device token** the kiosk makes itself and hands
over at that activation, its bearer token from then on. The server never keeps either, only hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import quote

PROVISIONING_PREFIX = "lgp_"
# What a kiosk may choose as its device token: URL-safe, at least 256 bits' worth of base64 characters.
DEVICE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43,512}$")


def new_provisioning_token() -> tuple[str, str]:
    """(token, its hash): the token is shown once, the hash is kept."""
    token = PROVISIONING_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(token_hash(token), stored_hash)


def provisioning_payload(server_url: str, device_id: str, token: str) -> str:
    """``labgate://provision?server=<url>&device=<device_id>&token=<provisioning token>`` (values URL-encoded)."""
    return (f"labgate://provision?server={quote(server_url, safe='')}&device={quote(device_id, safe='')}"
            f"&token={quote(token, safe='')}")
