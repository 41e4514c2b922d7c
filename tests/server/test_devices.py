"""Kiosk provisioning: a one-time, short-lived provisioning token shown once (in the QR payload) and
exchanged once for the device token the kiosk made, both kept as hashes; re-provisioning,
revocation, last seen."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from server.core.clock import utcnow
from server.core.database import Database
from server.core.settings import Settings
from server.devices.tables import Device
from tests.server.conftest import Kiosk, Person, activated
from tests.server.events import event, push


def _register(client: TestClient, admin: Person, name: str = "door LAB-1", room: str = "LAB-1") -> dict[str, Any]:
    response = client.post("/api/v1/devices", json={"name": name, "room": room}, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _activate(client: TestClient, device_id: str, provisioning: str, device_token: str) -> Any:
    return client.post(f"/api/v1/devices/{device_id}:activate",
                       json={"provisioning_token": provisioning, "device_token": device_token})


def _changes(client: TestClient, device_id: str, token: str) -> int:
    return client.get(f"/api/v1/devices/{device_id}/changes", headers={"Authorization": f"Bearer {token}"}).status_code


def test_registration_shows_a_provisioning_token_once_and_keeps_only_hashes(client: TestClient, admin: Person,
                                                                          database: Database,
                                                                          settings: Settings) -> None:
    body = _register(client, admin)
    provisioning, device_id = body["provisioning_token"], body["device"]["id"]
    query = parse_qs(urlparse(body["qr_payload"]).query)
    assert body["qr_payload"].startswith("labgate://provision?") and provisioning.startswith("lgp_")
    assert query == {"server": ["http://testserver"], "device": [device_id], "token": [provisioning]}
    hours = settings.provisioning_token_hours
    assert body["device"]["provisioning_expires_at"] == body["expires_at"]
    assert body["device"]["activated_at"] is None
    listed = client.get(f"/api/v1/devices/{device_id}", headers=admin.headers).text
    assert provisioning not in listed
    assert _changes(client, device_id, provisioning) == 401, "the provisioning token is no bearer token"

    device_token = "lgd_" + secrets.token_urlsafe(32)
    answer = _activate(client, device_id, provisioning, device_token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["device_id"] == device_id and answer.json()["room"] == "LAB-1"
    assert _changes(client, device_id, device_token) == 200
    with database.session() as session:
        row = session.scalars(select(Device).where(Device.id == device_id)).one()
        assert row.token_hash == hashlib.sha256(device_token.encode()).hexdigest()
        assert row.provision_hash == hashlib.sha256(provisioning.encode()).hexdigest()
        assert row.provision_expires_at is not None
        lifetime = row.provision_expires_at - row.created_at
        assert abs(lifetime - timedelta(hours=hours)) < timedelta(minutes=1)
    seen = client.get(f"/api/v1/devices/{device_id}", headers=admin.headers).json()
    assert seen["activated_at"].endswith("Z") and seen["activated_from"] == "testclient"
    assert seen["provisioning_expires_at"] is None, "a used code is no longer pending"
    audit = [e["action"] for e in client.get("/api/v1/audit", headers=admin.headers).json()]
    assert "device.activate" in audit


def test_a_second_use_of_a_provisioning_token_is_refused_with_a_clear_problem(client: TestClient, admin: Person
                                                                            ) -> None:
    body = _register(client, admin)
    device_id, provisioning = body["device"]["id"], body["provisioning_token"]
    kiosk_token = "lgd_" + secrets.token_urlsafe(32)
    assert _activate(client, device_id, provisioning, kiosk_token).status_code == 200
    again = _activate(client, device_id, provisioning, kiosk_token)
    assert again.status_code == 200, "the same kiosk retrying after a lost answer gets the same yes"

    thief = "lgd_" + secrets.token_urlsafe(32)  # someone who photographed the QR code
    refused = _activate(client, device_id, provisioning, thief)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 409 and "already used" in problem["detail"] and "works once" in problem["detail"]
    assert "rotate-token" in problem["detail"] and "testclient" in problem["detail"]
    assert _changes(client, device_id, thief) == 401 and _changes(client, device_id, kiosk_token) == 200

    wrong = _activate(client, device_id, "lgp_" + secrets.token_urlsafe(32), thief)
    assert wrong.status_code == 401 and "no provisioning code like this one" in wrong.json()["detail"]
    unknown = _activate(client, "no-such-device", provisioning, thief)
    assert unknown.status_code == 401
    weak = _activate(client, device_id, provisioning, "short")
    assert weak.status_code == 422 and weak.json()["errors"][0]["loc"][-1] == "device_token"


def test_an_expired_provisioning_token_is_refused_and_a_new_one_works(client: TestClient, admin: Person,
                                                                    database: Database) -> None:
    body = _register(client, admin)
    device_id = body["device"]["id"]
    with database.session() as session:
        session.execute(update(Device).where(Device.id == device_id)
                        .values(provision_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    token = "lgd_" + secrets.token_urlsafe(32)
    expired = _activate(client, device_id, body["provisioning_token"], token)
    assert expired.status_code == 401 and "expired at" in expired.json()["detail"]
    assert "rotate-token" in expired.json()["detail"]
    again = client.post(f"/api/v1/devices/{device_id}:rotate-token", headers=admin.headers)
    assert again.status_code == 200
    assert _activate(client, device_id, again.json()["provisioning_token"], token).status_code == 200
    assert _changes(client, device_id, token) == 200


def test_reprovisioning_cuts_the_old_device_token_and_its_new_code_works_once(client: TestClient, admin: Person,
                                                                            kiosk: Kiosk) -> None:
    rotated = client.post(f"/api/v1/devices/{kiosk.id}:rotate-token", headers=admin.headers).json()
    assert _changes(client, kiosk.id, kiosk.token) == 401, "the old device token stops at once"
    assert rotated["device"]["activated_at"] is None and rotated["provisioning_token"] != kiosk.token
    fresh = activated(client, rotated)
    assert _changes(client, kiosk.id, fresh.token) == 200
    assert _activate(client, kiosk.id, rotated["provisioning_token"],
                     "lgd_" + secrets.token_urlsafe(32)).status_code == 409
    revoked = client.post(f"/api/v1/devices/{kiosk.id}:revoke", headers=admin.headers).json()
    assert revoked["revoked"] is True
    response = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=fresh.headers)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert client.post(f"/api/v1/devices/{kiosk.id}:rotate-token", headers=admin.headers).status_code == 422
    assert client.get("/api/v1/devices", headers=admin.headers).json() == []
    assert len(client.get("/api/v1/devices", params={"include_revoked": True}, headers=admin.headers).json()) == 1


def test_a_revoked_device_cannot_use_a_pending_provisioning_token(client: TestClient, admin: Person) -> None:
    body = _register(client, admin)
    device_id = body["device"]["id"]
    client.post(f"/api/v1/devices/{device_id}:revoke", headers=admin.headers)
    refused = _activate(client, device_id, body["provisioning_token"], "lgd_" + secrets.token_urlsafe(32))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_token_only_opens_its_own_device(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    other = _register(client, admin, "door 2", "LAB-2")
    assert client.get(f"/api/v1/devices/{other['device']['id']}/changes", headers=kiosk.headers).status_code == 401
    assert _activate(client, kiosk.id, other["provisioning_token"],
                     "lgd_" + secrets.token_urlsafe(32)).status_code == 401, "a code opens only its own device"


def test_a_users_token_on_a_kiosk_endpoint_is_403(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    response = push(client, type(kiosk)(kiosk.id, "", admin.headers), [event(1)])
    assert response.status_code == 403 and "device token" in response.json()["detail"]


def test_last_seen_and_room_are_kept(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    assert client.get(f"/api/v1/devices/{kiosk.id}", headers=admin.headers).json()["last_seen_at"] is None
    client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers)
    seen = client.get(f"/api/v1/devices/{kiosk.id}", headers=admin.headers).json()
    assert seen["last_seen_at"].endswith("Z") and seen["last_seen_from"] == "testclient"
    moved = client.patch(f"/api/v1/devices/{kiosk.id}", json={"room": "LAB-3"}, headers=admin.headers).json()
    assert moved["room"] == "LAB-3"
    feed = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).json()
    assert feed["config"]["room"] == "LAB-3"
