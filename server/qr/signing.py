"""``LG1.<base64url payload>.<base64url Ed25519 signature of the payload bytes>`` (design.md contract).

Base64url is written without padding; a verifier should accept it with or without.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

PREFIX = "LG1"


class QrTokenError(ValueError):
    """A QR token that is malformed, forged, or expired."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key_b64() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Issued:
    token: str
    payload: dict[str, Any]


class QrSigner:
    def __init__(self, private_key_b64: str) -> None:
        try:
            raw = base64.b64decode(private_key_b64, validate=True)
            self._key = Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError as exc:
            raise ValueError("LABGATE_QR_PRIVATE_KEY must be the base64 of a raw 32-byte Ed25519 private key") from exc
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(public).decode()

    def issue(self, number: str, seconds: int, now: float | None = None) -> Issued:
        issued_at = int(now if now is not None else time.time())
        payload = {"number": number, "iat": issued_at, "exp": issued_at + seconds, "jti": str(uuid.uuid4())}
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return Issued(f"{PREFIX}.{b64url(body)}.{b64url(self._key.sign(body))}", payload)


def verify(token: str, public_key_b64: str, now: float | None = None) -> dict[str, Any]:
    """The payload of a genuine, unexpired token (what a kiosk does offline); ``QrTokenError`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise QrTokenError("not a LabGate QR token (LG1.<payload>.<signature>)")
    try:
        body, signature = unb64url(parts[1]), unb64url(parts[2])
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64)).verify(signature, body)
        payload: dict[str, Any] = json.loads(body)
    except InvalidSignature as exc:
        raise QrTokenError("the QR token's signature is not the server's") from exc
    except ValueError as exc:
        raise QrTokenError(f"the QR token is malformed ({exc})") from exc
    if int(payload.get("exp", 0)) < (now if now is not None else time.time()):
        raise QrTokenError("the QR token has expired; show a fresh one")
    return payload
