"""Kiosk provisioning: a token shown once and stored as a hash, the QR payload, revocation, last seen."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.core.database import Database
from server.devices.tables import Device
from tests.server.conftest import Kiosk, Person
from tests.server.events import event, push


def test_registration_shows_the_token_once_and_keeps_a_hash(client: TestClient, admin: Person,
                                                             database: Database) -> None:
    response = client.post("/api/v1/devices", json={"name": "door LAB-1", "room": "LAB-1"}, headers=admin.headers)
    assert response.status_code == 201
    body = response.json()
    token, device_id = body["token"], body["device"]["id"]
    query = parse_qs(urlparse(body["qr_payload"]).query)
    assert body["qr_payload"].startswith("labgate://provision?")
    assert query == {"server": ["http://testserver"], "device": [device_id], "token": [token]}
    listed = client.get(f"/api/v1/devices/{device_id}", headers=admin.headers).text
    assert token not in listed
    with database.session() as session:
        stored = session.scalar(select(Device.token_hash).where(Device.id == device_id))
    assert stored == hashlib.sha256(token.encode()).hexdigest()


def test_revoked_and_rotated_tokens_stop_working(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    rotated = client.post(f"/api/v1/devices/{kiosk.id}:rotate-token", headers=admin.headers).json()
    assert client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=kiosk.headers).status_code == 401
    fresh = {"Authorization": f"Bearer {rotated['token']}"}
    assert client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=fresh).status_code == 200
    revoked = client.post(f"/api/v1/devices/{kiosk.id}:revoke", headers=admin.headers).json()
    assert revoked["revoked"] is True
    response = client.get(f"/api/v1/devices/{kiosk.id}/changes", headers=fresh)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert client.get("/api/v1/devices", headers=admin.headers).json() == []
    assert len(client.get("/api/v1/devices", params={"include_revoked": True}, headers=admin.headers).json()) == 1


def test_a_token_only_opens_its_own_device(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    other = client.post("/api/v1/devices", json={"name": "door 2", "room": "LAB-2"}, headers=admin.headers).json()
    assert client.get(f"/api/v1/devices/{other['device']['id']}/changes", headers=kiosk.headers).status_code == 401


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
