"""Assistants' attendance: a kiosk event at the session's room during the session counts by itself;
otherwise a photo is the proof, scored against the assistant's face templates when they consented
(evidence for the lecturer, not a verdict); only the assistant records their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.auth.roles import Role
from tests.server.conftest import Kiosk, Person
from tests.server.events import BASE, event, push
from tests.server.recruitment.conftest import png

Contract = tuple[dict[str, Any], Person, dict[str, str]]


def _session(start: Any, hours: int = 2) -> dict[str, str]:
    return {"room": "LAB-1", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


def test_a_kiosk_event_at_the_room_during_the_session_counts_by_itself(client: TestClient, kiosk: Kiosk,
                                                                       contract: Contract) -> None:
    made, person, assistant = contract
    assert push(client, kiosk, [event(1, person=person.number)]).status_code == 200
    url = f"/api/v1/recruitment/assistantships/{made['id']}/attendance"
    seen = client.post(url, data=_session(BASE - timedelta(minutes=30)), headers=assistant)
    assert seen.status_code == 201, seen.text
    assert seen.json()["source"] == "kiosk" and seen.json()["kiosk_event_id"]
    elsewhere = client.post(url, data={**_session(BASE - timedelta(minutes=30)), "room": "LAB-2",
                                       "starts_at": (BASE - timedelta(minutes=20)).isoformat()}, headers=assistant)
    assert elsewhere.status_code == 422 and "send a photo" in elsewhere.json()["detail"]
    later = client.post(url, data=_session(BASE + timedelta(days=1)), headers=assistant)
    assert later.status_code == 422
    again = client.post(url, data=_session(BASE - timedelta(minutes=30)), headers=assistant)
    assert again.status_code == 409


def test_only_the_assistant_records_their_own_attendance(client: TestClient, contract: Contract,
                                                         make_person: Callable[..., Person]) -> None:
    made, _, _ = contract
    other = make_person(Role.ASSISTANT)
    answer = client.post(f"/api/v1/recruitment/assistantships/{made['id']}/attendance", headers=other.headers,
                         data=_session(BASE), files={"photo": ("p.png", png(), "image/png")})
    assert answer.status_code == 403


def test_a_pdf_is_not_an_attendance_photo(client: TestClient, contract: Contract) -> None:
    made, _, assistant = contract
    answer = client.post(f"/api/v1/recruitment/assistantships/{made['id']}/attendance", headers=assistant,
                         data=_session(BASE), files={"photo": ("p.pdf", b"%PDF-1.4\n%%EOF", "application/pdf")})
    assert answer.status_code == 415


@pytest.mark.data
def test_a_photo_is_scored_against_the_assistants_templates(client: TestClient, admin: Person, contract: Contract,
                                                            data_dir: Path, model_dir: Path) -> None:
    made, person, assistant = contract
    folders = sorted((data_dir / "lfw_people" / "known").iterdir())[:2]
    own = sorted(folders[0].glob("*.jpg"))
    stranger = sorted(folders[1].glob("*.jpg"))[0].read_bytes()
    url = f"/api/v1/recruitment/assistantships/{made['id']}/attendance"
    unscored = client.post(url, data=_session(BASE), files={"photo": ("a.jpg", own[1].read_bytes(), "image/jpeg")},
                           headers=assistant)
    assert unscored.status_code == 201 and unscored.json()["face_score"] is None  # no consent yet
    client.post(f"/api/v1/people/{person.id}/consents", json={"purpose": "face_recognition", "granted": True},
                headers=admin.headers)
    enrolled = [client.post(f"/api/v1/people/{person.id}/photos", headers=admin.headers,
                            files={"photo": ("f.jpg", p.read_bytes(), "image/jpeg")}).status_code for p in own[:3]]
    assert 201 in enrolled, enrolled
    scores = []
    for hour, photo in ((3, own[-1].read_bytes()), (6, stranger)):
        answer = client.post(url, data=_session(BASE + timedelta(hours=hour)), headers=assistant,
                             files={"photo": ("a.jpg", photo, "image/jpeg")})
        assert answer.status_code == 201, answer.text
        scores.append(answer.json()["face_score"])
    print(f"face scores: own photo {scores[0]}, a stranger {scores[1]}")
    assert scores[0] is not None and scores[1] is not None and scores[0] > scores[1]
