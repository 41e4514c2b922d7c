"""Recruitment's fixtures: a lecturer, an open vacancy, students who apply with generated transcripts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from server.auth.roles import Role
from tests.server.conftest import Person
from tests.server.notifications.conftest import add_person, live, peers  # noqa: F401  (the real server's fixtures)
from tests.server.recruitment import documents

NOW = datetime.now(UTC)


def vacancy_body(**overrides: Any) -> dict[str, Any]:
    return {"course_code": "IF2110", "course_name": "Algoritma dan Struktur Data", "period": "2026/2027-1",
            "quota": 3, "opens_at": (NOW - timedelta(days=1)).isoformat(),
            "closes_at": (NOW + timedelta(days=14)).isoformat(), "description": "Asisten praktikum ASD",
            **overrides}


@pytest.fixture
def lecturer(make_person: Callable[..., Person]) -> Person:
    return make_person(Role.LECTURER, name="Dr. Lektor")


@pytest.fixture
def open_vacancy(client: TestClient, lecturer: Person) -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        made = client.post("/api/v1/recruitment/vacancies", json=vacancy_body(**overrides), headers=lecturer.headers)
        assert made.status_code == 201, made.text
        opened = client.post(f"/api/v1/recruitment/vacancies/{made.json()['id']}:open", headers=lecturer.headers)
        assert opened.status_code == 200, opened.text
        return dict(opened.json())

    return make


def transcript_pdf(seed: int = 0, **changes: Any) -> tuple[documents.Truth, bytes]:
    truth = documents.make_truth(seed, layout=changes.pop("layout", "table"))
    for key, value in changes.items():
        setattr(truth, key, value)
    return truth, documents.pdf(truth)


def apply(client: TestClient | httpx.Client, vacancy_id: str, student: Person, transcript: bytes,
          filename: str = "khs.pdf", declared_ipk: float | None = None, semester: int = 5,
          extra: tuple[tuple[str, str, bytes], ...] = ()) -> httpx.Response:
    files: list[tuple[str, tuple[str, bytes, str]]] = [("transcript", (filename, transcript, "application/pdf"))]
    data: dict[str, Any] = {"email": f"s{student.number}@student.example.ac.id", "whatsapp": "0812-3456-7890",
                            "semester": str(semester), "declared_ipk": str(declared_ipk if declared_ipk is not None
                                                                              else 2.0)}
    kinds = []
    for kind, name, content in extra:
        files.append(("documents", (name, content, "application/octet-stream")))
        kinds.append(kind)
    if kinds:
        data["document_kinds"] = kinds
    return client.post(f"/api/v1/recruitment/vacancies/{vacancy_id}/applications", data=data, files=files,
                       headers=student.headers)


def png(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """A small made-up picture (no one's face): coloured blocks."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.kron(rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8),
                     np.ones((16, 16, 1), np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def contract(client: TestClient, admin: Person, make_person: Callable[..., Person],
             open_vacancy: Callable[..., dict[str, Any]]) -> tuple[dict[str, Any], Person, dict[str, str]]:
    """An active assistantship: (contract, the person, their headers signed in as assistant)."""
    from tests.server.conftest import signed_in

    vacancy = open_vacancy()
    person = make_person(Role.STUDENT)
    applied = apply(client, vacancy["id"], person, transcript_pdf(0)[1])
    assert applied.status_code == 201, applied.text
    application = applied.json()["id"]
    assert client.post(f"/api/v1/recruitment/applications/{application}:accept", json={"reason": "baik"},
                       headers=admin.headers).status_code == 200
    made = client.post(f"/api/v1/recruitment/applications/{application}:activate", headers=admin.headers)
    assert made.status_code == 201, made.text
    return made.json(), person, signed_in(client, person.number, Role.ASSISTANT)
