"""Provisioning: the server URL, device id and device token a kiosk talks to its server with.

The server's QR payload ``labgate://provision?server=<url>&device=<id>&token=<provisioning token>``
(shown to the camera in technician mode, pasted there, or given to ``labgate-sync provision``)
carries a **provisioning token** that works once and for a short time. The kiosk makes its own
**device token** (a random secret), keeps both in a pending file, and exchanges the provisioning
token for it at the server (``POST /devices/{id}:activate``, see ``sync.provisioning``); only then
do they replace the credentials in use, without the provisioning token, so a code that is refused
(used, expired) never breaks a kiosk that works. Each file is JSON, mode 600, written atomically, so
a crash never leaves a new token beside an old device id. No token goes into the device store (a
technician may copy that around) nor into a log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, replace
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
    token: str  # the device token: the bearer token once activated
    provisioning_token: str | None = None  # set until the server took the device token (activation)

    @property
    def pending(self) -> bool:
        """Not activated yet: the provisioning token still has to be exchanged."""
        return self.provisioning_token is not None

    def activated(self) -> Credentials:
        return replace(self, provisioning_token=None)

    def __repr__(self) -> str:  # never print a token
        return (f"Credentials(server={self.server!r}, device_id={self.device_id!r}, token=<{len(self.token)} chars>, "
                f"pending={self.pending})")


def new_device_token() -> str:
    """The device's own secret: 256 random bits, URL-safe."""
    return "lgd_" + secrets.token_urlsafe(32)


def check(server: str, device_id: str, provisioning_token: str) -> Credentials:
    """Credentials waiting for activation: the given server, device and provisioning token, and a new
    device token."""
    server = _server(server)
    device_id = _device(device_id)
    token = provisioning_token.strip()
    if not TOKEN.fullmatch(token):
        raise ProvisioningError(f"the provisioning token must be 16 to 512 visible characters (got {len(token)})")
    return Credentials(server, device_id, new_device_token(), token)


def parse_payload(text: str) -> Credentials:
    """Credentials waiting for activation from a provisioning QR payload; ProvisioningError names what
    is missing or wrong."""
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


def _server(server: str) -> str:
    server = server.strip().rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProvisioningError(f"server {server[:100]!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ProvisioningError(f"server {server[:100]!r} must be a base URL, without ?query or #fragment")
    return server


def _device(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id.strip()):
        raise ProvisioningError(f"device id {device_id[:80]!r} must be 1 to 64 visible characters")
    return device_id.strip()


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
        token, pending = str(body["token"]), body.get("provisioning_token")
        if not TOKEN.fullmatch(token):
            raise ValueError("the device token is not 16 to 512 visible characters")
        if pending is not None and not (isinstance(pending, str) and TOKEN.fullmatch(pending)):
            raise ValueError("the provisioning token is not 16 to 512 visible characters")
        return Credentials(_server(str(body["server"])), _device(str(body["device_id"])), token, pending)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvisioningError(f"the credentials file {path} is damaged ({exc}); provision the kiosk again") from exc


def discard(path: Path, expected: Credentials) -> None:
    """Remove the file if it still holds ``expected`` (a newer one written meanwhile stays)."""
    try:
        if load(path) == expected:
            path.unlink(missing_ok=True)
    except ProvisioningError:
        path.unlink(missing_ok=True)


def save(path: Path, credentials: Credentials) -> None:
    """Write atomically (temporary file, fsync, rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body: dict[str, str] = {"server": credentials.server, "device_id": credentials.device_id,
                            "token": credentials.token}
    if credentials.provisioning_token is not None:
        body["provisioning_token"] = credentials.provisioning_token
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(json.dumps(body, indent=1).encode())
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
