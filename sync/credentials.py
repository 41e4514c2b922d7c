"""Provisioning: the server URL, device id and device token a kiosk talks to its server with.

They come from the server's QR payload ``labgate://provision?server=<url>&device=<id>&token=<token>``
(shown to the camera in technician mode, or pasted) and are kept together in one JSON file, mode 600,
written atomically, so a crash never leaves a new token beside an old device id. The token never goes
into the device store (a technician may copy that around) nor into a log.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PREFIX = "labgate://provision"
DEVICE_ID = re.compile(r"^[!-~]{1,64}$")  # what the server's path parameter takes: 1-64 visible characters
TOKEN = re.compile(r"^[!-~]{16,512}$")


class ProvisioningError(ValueError):
    """A payload, token or credentials file that cannot be used; the message says what and why."""


@dataclass(frozen=True)
class Credentials:
    server: str  # base URL, no trailing slash: http://lab.example:8480
    device_id: str
    token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(server={self.server!r}, device_id={self.device_id!r}, token=<{len(self.token)} chars>)"


def is_payload(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def check(server: str, device_id: str, token: str) -> Credentials:
    server = server.strip().rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProvisioningError(f"server {server[:100]!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ProvisioningError(f"server {server[:100]!r} must be a base URL, without ?query or #fragment")
    if not DEVICE_ID.fullmatch(device_id.strip()):
        raise ProvisioningError(f"device id {device_id[:80]!r} must be 1 to 64 visible characters")
    if not TOKEN.fullmatch(token.strip()):
        raise ProvisioningError(f"the device token must be 16 to 512 visible characters (got {len(token.strip())})")
    return Credentials(server, device_id.strip(), token.strip())


def parse_payload(text: str) -> Credentials:
    """Credentials from a provisioning QR payload; ProvisioningError names what is missing or wrong."""
    text = text.strip()
    if not text.startswith(PREFIX + "?"):
        raise ProvisioningError(f"not a provisioning payload (it starts with {text[:24]!r}, not {PREFIX}?)")
    query = parse_qs(text[len(PREFIX) + 1:], keep_blank_values=True, strict_parsing=False)
    values = {}
    for key in ("server", "device", "token"):
        found = query.get(key, [])
        if len(found) != 1 or not found[0].strip():
            raise ProvisioningError(f"the provisioning payload needs exactly one non-empty {key}= (got {len(found)})")
        values[key] = found[0]
    return check(values["server"], values["device"], values["token"])


def load(path: Path) -> Credentials | None:
    """The kept credentials, or None when the kiosk was never provisioned."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProvisioningError(f"cannot read the credentials file {path}: {exc}") from exc
    try:
        body = json.loads(text)
        return check(str(body["server"]), str(body["device_id"]), str(body["token"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvisioningError(f"the credentials file {path} is damaged ({exc}); provision the kiosk again") from exc


def save(path: Path, credentials: Credentials) -> None:
    """Write atomically (temporary file, fsync, rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"server": credentials.server, "device_id": credentials.device_id,
                       "token": credentials.token}, indent=1)
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(body.encode())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
