"""The rules a race could break live in the database: one application per student per vacancy (a
UNIQUE constraint) and acceptances within the quota (a conditional UPDATE under a CHECK). Each is
tried by 20 clients at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.ids import new_id
from server.recruitment.tables import Application, ApplicationDocument, Vacancy
from tests.server.conftest import Person
from tests.server.recruitment.conftest import apply, transcript_pdf

AT_ONCE = 20


def _at_once(work: Callable[[int], int]) -> Counter[int]:
    start = threading.Barrier(AT_ONCE)
    codes: list[int] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        start.wait()
        code = work(index)
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(codes)


def test_twenty_identical_applications_at_once_store_one(app: FastAPI, client: TestClient,
                                                         make_person: Callable[..., Person],
                                                         open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    student = make_person(Role.STUDENT)
    _, transcript = transcript_pdf(1)
    answers: list[Any] = []

    def work(_: int) -> int:
        answer = apply(client, vacancy["id"], student, transcript)
        answers.append(answer)
        return answer.status_code

    codes = _at_once(work)
    assert codes == Counter({201: 1, 409: AT_ONCE - 1}), codes
    refused = [a.json() for a in answers if a.status_code == 409]
    assert all("already applied" in r["detail"] and "Anda sudah mendaftar" in r["detail"] for r in refused)
    with app.state.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Application)) == 1
        assert session.scalar(select(func.count()).select_from(ApplicationDocument)) == 1
    stored = list((app.state.settings.data_dir / "recruitment" / "documents").iterdir())
    assert len(stored) == 1, "a refused application leaves no file behind"


def test_the_database_itself_refuses_a_second_application(app: FastAPI, make_person: Callable[..., Person],
                                                          open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy()
    student = make_person(Role.STUDENT, login=False)
    now = utcnow()

    def row() -> Application:
        return Application(id=new_id(), vacancy_id=vacancy["id"], person_id=student.id, email="a@example.ac.id",
                           whatsapp="+6281234567890", semester=5, declared_ipk=3.0, state="submitted", outcome=None,
                           findings=None, created_at=now, updated_at=now)

    with app.state.database.session() as session:
        session.add(row())
        session.commit()
        session.add(row())
        try:
            session.commit()
        except IntegrityError as exc:
            assert "uq_applications_vacancy_person" in str(exc) or "UNIQUE" in str(exc)
        else:
            raise AssertionError("a second application for the same vacancy and student was stored")


def test_twenty_acceptances_at_once_with_quota_three_accept_exactly_three(
        app: FastAPI, client: TestClient, make_person: Callable[..., Person], lecturer: Person,
        open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy(quota=3)
    applications = []
    for index in range(AT_ONCE):
        student = make_person(Role.STUDENT)
        _, transcript = transcript_pdf(index)
        answer = apply(client, vacancy["id"], student, transcript)
        assert answer.status_code == 201, answer.text
        assert answer.json()["outcome"] == "met", answer.json()["findings"]
        applications.append(answer.json()["id"])

    codes = _at_once(lambda i: client.post(f"/api/v1/recruitment/applications/{applications[i]}:accept",
                                           json={"reason": "nilai baik"}, headers=lecturer.headers).status_code)
    assert codes == Counter({200: 3, 409: AT_ONCE - 3}), codes
    with app.state.database.session() as session:
        stored = session.get(Vacancy, vacancy["id"])
        assert stored is not None and stored.accepted == 3
        assert stored.state == "closed" and stored.closed_reason == "quota"
        assert session.scalar(select(func.count()).select_from(Application)
                              .where(Application.state == "accepted")) == 3


def test_the_same_application_accepted_twice_at_once_counts_once(
        app: FastAPI, client: TestClient, make_person: Callable[..., Person], lecturer: Person,
        open_vacancy: Callable[..., dict[str, Any]]) -> None:
    vacancy = open_vacancy(quota=5)
    answer = apply(client, vacancy["id"], make_person(Role.STUDENT), transcript_pdf(3)[1])
    assert answer.status_code == 201, answer.text
    target = answer.json()["id"]
    codes = _at_once(lambda _: client.post(f"/api/v1/recruitment/applications/{target}:accept",
                                           json={"reason": "nilai baik"}, headers=lecturer.headers).status_code)
    assert codes == Counter({200: 1, 409: AT_ONCE - 1}), codes
    with app.state.database.session() as session:
        stored = session.get(Vacancy, vacancy["id"])
        assert stored is not None and stored.accepted == 1
