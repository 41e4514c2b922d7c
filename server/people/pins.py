"""PIN hashes in the contract's format, ``scrypt$N$r$p$<salt b64>$<hash b64>`` (hashlib.scrypt,
dklen 32), so a kiosk verifies a PIN offline with the standard library alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 16384, 8, 1, 32


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return f"scrypt${N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def verify_pin(stored: str, pin: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                 maxmem=256 * 1024 * 1024, dklen=len(base64.b64decode(expected)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, base64.b64decode(expected))
