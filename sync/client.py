"""The kiosk's HTTP side of the protocol (design.md, "Contracts"): push a batch, read a page of
changes, acknowledge a cursor or a command. Every answer is sorted into one of four outcomes the
caller acts on: a body (2xx), ``Unauthorised`` (401/403: stop, say so), ``Retry`` (the network, a
timeout, 5xx, 408, 429: back off, honour Retry-After) or ``Refused`` (another 4xx: the request itself
is wrong; retrying it unchanged will not help)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from sync.backoff import retry_after
from sync.clock import ClockEstimate
from sync.credentials import Credentials

USER_AGENT = "labgate-sync/0.1"
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class SyncError(Exception):
    """Base of the outcomes that are not a body."""


class Unauthorised(SyncError):
    """The server refused the device's token (revoked, rotated or wrong device): provision again.
    ``status`` (401/403) and the problem's ``detail``."""

    def __init__(self, message: str, status: int = 401, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


class Retry(SyncError):
    """Worth trying again later; ``retry_after`` is the server's wish in seconds, if it said one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(SyncError):
    """The server refused the request itself (4xx other than 401/403); ``status`` and the problem's detail."""

    def __init__(self, message: str, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    seconds: float


class Client:
    def __init__(self, credentials: Credentials, timeout_s: float, ca_file: Path | None = None,
                 clock: ClockEstimate | None = None) -> None:
        self.credentials = credentials
        self.timeout = (min(timeout_s, 5.0), timeout_s)  # (connect, read)
        self.clock = clock or ClockEstimate()
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {credentials.token}", "User-Agent": USER_AGENT,
                                     "Accept": "application/json"})
        self.session.verify = str(ca_file) if ca_file else True
        self.base = f"{credentials.server}/api/v1/devices/{quote(credentials.device_id, safe='')}"

    def close(self) -> None:
        self.session.close()

    # -- the protocol ------------------------------------------------------------------------------
    def activate(self) -> Answer:
        """Exchange the provisioning token, once, for this device's token (the bearer from then on)."""
        if self.credentials.provisioning_token is None:
            raise ValueError("these credentials are activated already")
        return self._call("POST", f"{self.base}:activate", headers={"Authorization": None},
                          json={"provisioning_token": self.credentials.provisioning_token,
                                "device_token": self.credentials.token})

    def push(self, events: list[dict[str, Any]], key: str) -> Answer:
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
        return self._call("POST", f"{self.base}/events:batch", data=body,
                          headers={"Content-Type": "application/json", "Idempotency-Key": key})

    def changes(self, cursor: str | None, limit: int) -> Answer:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self._call("GET", f"{self.base}/changes", params=params)

    def ack_changes(self, cursor: str) -> Answer:
        return self._call("POST", f"{self.base}/changes:ack", json={"cursor": cursor})

    def ack_command(self, command_id: str, ok: bool, detail: str) -> Answer:
        return self._call("POST", f"{self.base}/commands/{quote(command_id, safe='')}:ack",
                          json={"ok": ok, "detail": detail[:2000]})

    # -- one request -------------------------------------------------------------------------------
    def _call(self, method: str, url: str, **kwargs: Any) -> Answer:
        what = f"{method} {url.removeprefix(self.credentials.server)}"
        sent = time.time()
        started = time.monotonic()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise Retry(f"{what}: no answer within {self.timeout[1]:g} s ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise Retry(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
        seconds = time.monotonic() - started
        status = response.status_code
        if status in (401, 403):
            raise Unauthorised(f"{what}: {status} {_detail(response)}", status, _detail(response))
        if status in RETRY_STATUSES:
            raise Retry(f"{what}: {status} {_detail(response)}", retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise Retry(f"{what}: {status} {_detail(response)}")
        if status >= 400:
            raise Refused(f"{what}: {status} {_detail(response)}", status, _detail(response))
        try:
            body = response.json()
        except ValueError as exc:  # a proxy's page, a cut body: the server did not answer as the contract says
            raise Retry(f"{what}: {status} but the body is not JSON ({len(response.content)} bytes)") from exc
        if not isinstance(body, dict):
            raise Retry(f"{what}: {status} but the body is not a JSON object")
        self.clock.add(sent, sent + seconds, response.headers.get("Date"), body.get("server_time"))
        return Answer(body, seconds)


def _detail(response: requests.Response) -> str:
    """The problem's detail (RFC 9457), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return repr(response.text[:200])
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"][:300]
    return repr(str(body)[:200])


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."
