"""The workflow's rules: drafts hidden from students, only the vacancy's lecturers decide, a check that
needs review is confirmed by a person before acceptance, withdrawal before the deadline, the deadline
closes a vacancy, rejection is told, every change is in the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from server.auth.roles import Role
from server.notifications.tables import Message
from server.recruitment.tables import Vacancy
from tests.server.conftest import Person
from tests.server.recruitment.conftest import NOW, apply, transcript_pdf, vacancy_body


def test_a_lecturer_not_on_the_vacancy_cannot_see_or_decide(client: TestClient, make_person: Callable[..., Person],
                                                           open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    student = make_person(Role.STUDENT)
    application = apply(client, vacancy["id"], student, transcript_pdf(1)[1]).json()["id"]
    stranger = make_person(Role.LECTURER)
    assert client.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}/applications",
                      headers=stranger.headers).status_code == 403
    assert client.post(f"/api/v1/recruitment/applications/{application}:accept", json={"reason": "mau"},
                       headers=stranger.headers).status_code == 403
    assert client.get(f"/api/v1/recruitment/applications/{application}", headers=student.headers).status_code == 200


def test_drafts_are_hidden_from_students(client: TestClient, lecturer: Person,
                                         make_person: Callable[..., Person]) -> None:
    draft = client.post("/api/v1/recruitment/vacancies", json=vacancy_body(), headers=lecturer.headers).json()
    student = make_person(Role.STUDENT)
    assert client.get(f"/api/v1/recruitment/vacancies/{draft['id']}", headers=student.headers).status_code == 404
    assert draft["id"] not in [v["id"] for v in client.get("/api/v1/recruitment/vacancies",
                                                           headers=student.headers).json()["items"]]
    assert apply(client, draft["id"], student, transcript_pdf(1)[1]).status_code == 409


def test_needs_review_is_confirmed_by_a_person_before_acceptance(client: TestClient, lecturer: Person,
                                                                 make_person: Callable[..., Person],
                                                                 open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy(min_ipk=2.0)
    truth, transcript = transcript_pdf(2)
    checked = apply(client, vacancy["id"], make_person(Role.STUDENT), transcript, declared_ipk=truth.ipk + 0.5)
    assert checked.status_code == 201
    body = checked.json()
    assert body["outcome"] == "needs_review"
    assert any("declared IPK" in p for p in body["findings"]["problems"]), body["findings"]["problems"]
    url = f"/api/v1/recruitment/applications/{body['id']}"
    assert client.post(f"{url}:accept", json={"reason": "diterima"}, headers=lecturer.headers).status_code == 409
    reviewed = client.post(f"{url}:review", json={"outcome": "met", "reason": "KHS asli dicek, salah ketik"},
                           headers=lecturer.headers)
    assert reviewed.status_code == 200 and reviewed.json()["outcome"] == "met"
    accepted = client.post(f"{url}:accept", json={"reason": "diterima"}, headers=lecturer.headers)
    assert accepted.status_code == 200
    history = [(h["from_state"], h["to_state"]) for h in accepted.json()["history"]]
    assert history == [(None, "submitted"), ("submitted", "checked"), ("checked", "checked"), ("checked", "accepted")]
    assert all(h["at"] and h["reason"] for h in accepted.json()["history"])


def test_a_requirement_not_met_is_reported_not_met(client: TestClient, make_person: Callable[..., Person],
                                                   open_vacancy: Callable[..., dict[str, Any]]) -> None:
    truth, transcript = transcript_pdf(5)
    vacancy = open_vacancy(min_ipk=min(truth.ipk + 0.3, 4.0), min_semester=7)
    body = apply(client, vacancy["id"], make_person(Role.STUDENT), transcript, declared_ipk=truth.ipk,
                 semester=3).json()
    assert body["outcome"] == "not_met"
    assert {r["kind"]: r["status"] for r in body["findings"]["requirements"]} == {"ipk": "not_met",
                                                                                  "semester": "not_met"}


def test_withdraw_before_the_deadline_and_rejection_is_told(app: FastAPI, client: TestClient, lecturer: Person,
                                                            make_person: Callable[..., Person],
                                                            open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    first, second = make_person(Role.STUDENT), make_person(Role.STUDENT)
    mine = apply(client, vacancy["id"], first, transcript_pdf(1)[1]).json()["id"]
    theirs = apply(client, vacancy["id"], second, transcript_pdf(2)[1]).json()["id"]
    assert client.post(f"/api/v1/recruitment/applications/{mine}:withdraw", json={"reason": "jadwal bentrok"},
                       headers=second.headers).status_code == 403
    withdrawn = client.post(f"/api/v1/recruitment/applications/{mine}:withdraw", json={"reason": "jadwal bentrok"},
                            headers=first.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert apply(client, vacancy["id"], first, transcript_pdf(1)[1]).status_code == 409  # still one per vacancy
    rejected = client.post(f"/api/v1/recruitment/applications/{theirs}:reject", json={"reason": "kuota penuh"},
                           headers=lecturer.headers)
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    with app.state.database.session() as session:
        told = list(session.scalars(select(Message).where(Message.person_id == second.id)))
    assert {m.channel for m in told} == {"email", "whatsapp"} and all("kuota penuh" in m.body_text for m in told)


def test_the_deadline_closes_the_vacancy(app: FastAPI, client: TestClient, make_person: Callable[..., Person],
                                         open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    with app.state.database.session() as session:
        session.execute(update(Vacancy).where(Vacancy.id == vacancy["id"])
                        .values(closes_at=NOW - timedelta(minutes=1)))
        session.commit()
    student = make_person(Role.STUDENT)
    shown = client.get(f"/api/v1/recruitment/vacancies/{vacancy['id']}", headers=student.headers).json()
    assert shown["state"] == "closed" and shown["closed_reason"] == "deadline"
    assert apply(client, vacancy["id"], student, transcript_pdf(1)[1]).status_code == 409
