"""Faces: real photos become templates through the kiosk's own engine; bad uploads get a clear 4xx.

Photos come from the shared face data at run time (never stored in the project); those tests skip
without it or without built models.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.auth.roles import Role
from tests.server.conftest import Person, activated


def _consented(client: TestClient, admin: Person, make_person: Callable[..., Person], **kwargs: object) -> Person:
    person = make_person(Role.STUDENT, login=False, **kwargs)
    client.post(f"/api/v1/people/{person.id}/consents", json={"purpose": "face_recognition", "granted": True},
                headers=admin.headers)
    return person


def _upload(client: TestClient, admin: Person, person: Person, data: bytes, name: str = "face.jpg",
            kind: str = "image/jpeg"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/people/{person.id}/photos", files={"photo": (name, data, kind)},
                       headers=admin.headers)


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) \
        + chunk(b"IEND", b"")


def _jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 110, 100)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def known(data_dir: Path, engine) -> list[list[bytes]]:  # type: ignore[no-untyped-def]
    """Four photos each of two people that pass the quality gate (some LFW photos show bystanders)."""
    from models.images import read_image

    chosen = []
    for folder in sorted((data_dir / "lfw_people" / "known").iterdir())[:2]:
        photos = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]
        chosen.append([p for p in photos if engine.embed_photo(read_image(p)).quality.ok][:4])
    assert all(len(c) == 4 for c in chosen), "the shared data should hold 4 good photos per person"
    return chosen


def test_bad_uploads_get_a_clear_4xx(client: TestClient, admin: Person, make_person: Callable[..., Person],
                                     settings) -> None:  # type: ignore[no-untyped-def]
    person = _consented(client, admin, make_person)
    cases = [
        (_jpeg()[:200], "face.jpg", "image/jpeg", 422, "truncated or corrupt"),
        (b"%PDF-1.4 " + b"x" * 500, "face.jpg", "image/jpeg", 415, "a PDF document"),
        (_jpeg(), "face.txt", "text/plain", 415, "text/plain"),
        (_png_bomb(30000, 30000), "bomb.png", "image/png", 422, "Mpx limit"),
        (b"", "empty.jpg", "image/jpeg", 422, "empty"),
        (b"\xff\xd8\xff" + b"\0" * (settings.photo_max_bytes + 1), "huge.jpg", "image/jpeg", 413, "limit"),
    ]
    for data, name, kind, status, words in cases:
        response = _upload(client, admin, person, data, name, kind)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"], (name, response.json()["detail"])
    over_the_body_limit = _upload(client, admin, person, b"\0" * 20_000_000)
    assert over_the_body_limit.status_code == 413


def test_photos_need_consent(client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.STUDENT, login=False)
    response = _upload(client, admin, person, _jpeg())
    assert response.status_code == 409 and "consent" in response.json()["detail"]


def test_a_photo_without_a_face_is_refused(client: TestClient, admin: Person, make_person: Callable[..., Person],
                                           model_dir: Path) -> None:
    person = _consented(client, admin, make_person)
    response = _upload(client, admin, person, _jpeg((320, 240)))
    assert response.status_code == 422 and "no face" in response.json()["detail"]


@pytest.mark.data
def test_enrol_identify_and_refuse_a_duplicate_identity(client: TestClient, admin: Person,
                                                         make_person: Callable[..., Person], model_dir: Path,
                                                         known: list[list[bytes]]) -> None:
    first = _consented(client, admin, make_person, number="2201000001")
    second = _consented(client, admin, make_person, number="2201000002")
    for photo in known[0][:2]:
        enrolled = _upload(client, admin, first, photo)
        assert enrolled.status_code == 201, enrolled.text
        assert 0.0 < enrolled.json()["quality"] <= 1.0 and enrolled.json()["photo_stored"] is False
    assert _upload(client, admin, second, known[1][0]).status_code == 201
    found = client.post("/api/v1/faces:identify", files={"photo": ("probe.jpg", known[0][2], "image/jpeg")},
                        headers=admin.headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["outcome"] == "accept" and body["person"]["number"] == "2201000001"
    assert body["matches"][0]["person_id"] == first.id and body["score"] >= body["thresholds"]["accept"]
    duplicate = _upload(client, admin, second, known[0][3])
    assert duplicate.status_code == 409 and "2201000001" in duplicate.json()["detail"]
    templates = client.get(f"/api/v1/people/{first.id}/templates", headers=admin.headers).json()
    assert len(templates) == 2 and {t["model_id"] for t in templates} == {body["model_id"]}


@pytest.mark.data
def test_templates_reach_kiosks_of_the_same_model_and_go_with_consent(client: TestClient, admin: Person,
                                                                       make_person: Callable[..., Person],
                                                                       model_dir: Path,
                                                                       known: list[list[bytes]]) -> None:
    person = _consented(client, admin, make_person)
    template = _upload(client, admin, person, known[0][0]).json()
    device = client.post("/api/v1/devices", json={"name": "door", "room": "LAB-1"}, headers=admin.headers).json()
    assert device["device"]["model_id"] == template["model_id"]  # the server's model by default
    kiosk = activated(client, device).headers
    feed = client.get(f"/api/v1/devices/{device['device']['id']}/changes", headers=kiosk).json()
    assert [t["id"] for t in feed["templates"]] == [template["id"]]
    client.post(f"/api/v1/people/{person.id}/consents", json={"purpose": "face_recognition", "granted": False},
                headers=admin.headers)
    assert client.get(f"/api/v1/people/{person.id}/templates", headers=admin.headers).json() == []
    later = client.get(f"/api/v1/devices/{device['device']['id']}/changes", params={"cursor": feed["next_cursor"]},
                       headers=kiosk).json()
    assert later["removed_templates"] == [{"id": template["id"]}]
