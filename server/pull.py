"""Pull a kiosk's events over the network (its pull-out endpoint, design.md "Kiosk pull-out") and
store them through the same idempotent ingest as a push: for a kiosk that cannot reach the server.

Every page goes through ``ingest`` under a key of its own, so the ingest judges each event afresh:
an event stored before comes back ``duplicate`` and is not stored again (a content-derived key would
replay the first page's reply, "accepted", for a page read twice). A kiosk provisioned again as a
new device still serves the events it recorded under its earlier device id (its ``/events`` has
them all); the ingest keeps one copy of an event id across devices, so those come back duplicates
naming the earlier device.
"""

from __future__ import annotations

import uuid
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
    elsewhere: int = 0  # of the duplicates and conflicts: stored under another (earlier) device id

    def summary(self) -> str:
        text = (f"device {self.device_id}: {self.pages} page(s); accepted {self.accepted}, duplicate {self.duplicate}, "
                f"conflict {self.conflict}, rejected {self.rejected}")
        if self.elsewhere:
            text += f" ({self.elsewhere} of them stored under an earlier device id of this kiosk)"
        return text


def start_after(session: Session, device_id: str) -> int:
    """Resume below the first gap, so events missing on the server are asked for again."""
    gaps = sequence.missing(session, device_id, cap=1)
    if gaps:
        return gaps[0][0] - 1
    return sequence.summary(session, device_id)[1] or 0


def pull(session: Session, client: httpx.Client, url: str, token: str, device_id: str | None = None,
         after: int | None = None) -> Pulled:
    """Ingest the kiosk's events from ``after`` (default: where this server's copy has its first gap)."""
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    probe = _page(client, f"{base}/events", headers, 0, 1)
    found = str(probe.get("device_id", ""))
    if device_id and found != device_id:
        raise PullError(f"the kiosk at {url} says it is device {found!r}, not {device_id!r}")
    if session.get(Device, found) is None:
        raise PullError(f"device {found!r} (from {url}) is not registered on this server; register it "
                        f"with POST /api/v1/devices and provision the kiosk first")
    result = Pulled(found)
    position = start_after(session, found) if after is None else after
    while True:
        page = _page(client, f"{base}/events", headers, position, PAGE)
        events = page["events"]
        if not events:
            return result
        result.pages += 1
        device = session.get(Device, found)
        assert device is not None
        reply = ingest.ingest(session, device, f"pull-{uuid.uuid4()}", events)
        for item in reply["results"]:
            setattr(result, item["status"], getattr(result, item["status"]) + 1)
            result.elsewhere += "stored under device" in (item["reason"] or "")
        next_after = page.get("next_after")
        if not isinstance(next_after, int) or next_after <= position:
            return result
        position = next_after


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
