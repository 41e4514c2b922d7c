"""Pull a kiosk's events over the network (its pull-out endpoint, design.md "Kiosk pull-out") and
store them through the same idempotent ingest as a push: for a kiosk that cannot reach the server."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from server.devices.tables import Device
from server.presence import ingest, sequence

PAGE = 1000


class PullError(RuntimeError):
    """The kiosk did not answer as the contract says; the message says what it did."""


@dataclass
class Pulled:
    device_id: str
    pages: int = 0
    accepted: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: int = 0


def start_after(session: Session, device_id: str) -> int:
    """Resume below the first gap, so events missing on the server are asked for again."""
    gaps = sequence.missing(session, device_id, cap=1)
    if gaps:
        return gaps[0][0] - 1
    return sequence.summary(session, device_id)[1] or 0


def pull(session: Session, client: httpx.Client, url: str, token: str, device_id: str | None = None) -> Pulled:
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    after: int | None = None
    result: Pulled | None = None
    while True:
        if after is None:
            probe = _page(client, f"{base}/events", headers, 0, 1)
            found = str(probe.get("device_id", ""))
            if device_id and found != device_id:
                raise PullError(f"the kiosk at {url} says it is device {found!r}, not {device_id!r}")
            device = session.get(Device, found)
            if device is None:
                raise PullError(f"device {found!r} (from {url}) is not registered on this server; register it "
                                f"with POST /api/v1/devices and provision the kiosk first")
            result = Pulled(found)
            after = start_after(session, found)
        assert result is not None
        page = _page(client, f"{base}/events", headers, after, PAGE)
        events = page["events"]
        if not events:
            return result
        device = session.get(Device, result.device_id)
        assert device is not None
        key = "pull-" + hashlib.sha256(json.dumps(events, sort_keys=True).encode()).hexdigest()[:40]
        reply = ingest.ingest(session, device, key, events)
        result.pages += 1
        for item in reply["results"]:
            setattr(result, item["status"], getattr(result, item["status"]) + 1)
        next_after = page.get("next_after")
        if not isinstance(next_after, int) or next_after <= after:
            return result
        after = next_after


def _page(client: httpx.Client, url: str, headers: dict[str, str], after: int, limit: int) -> dict[str, Any]:
    try:
        response = client.get(url, params={"after": after, "limit": limit}, headers=headers)
    except httpx.HTTPError as exc:
        raise PullError(f"cannot reach the kiosk at {url}: {exc}") from exc
    if response.status_code == 401:
        raise PullError(f"the kiosk at {url} refused the token (401); use its events token")
    if response.status_code != 200:
        raise PullError(f"the kiosk at {url} answered {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError as exc:
        raise PullError(f"the kiosk at {url} did not answer JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or "device_id" not in body:
        raise PullError(f"the kiosk at {url} answered without device_id and events: {str(body)[:200]}")
    if not all(isinstance(e, dict) for e in body["events"]):
        raise PullError(f"the kiosk at {url} sent events that are not objects")
    return body
