"""Admins: only an admin changes or erases an admin, and the server always keeps an active admin,
even when two admins take the role from each other at the same moment (on both databases)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi.testclient import TestClient

from server.auth.roles import Role
from tests.server.conftest import Kiosk, Person


def test_a_head_cannot_deactivate_change_or_erase_an_admin(client: TestClient, admin: Person,
                                                           make_person: Callable[..., Person]) -> None:
    head = make_person(Role.HEAD)
    for attempt in (
        lambda: client.patch(f"/api/v1/people/{admin.id}", json={"active": False}, headers=head.headers),
        lambda: client.patch(f"/api/v1/people/{admin.id}", json={"name": "Not An Admin"}, headers=head.headers),
        lambda: client.delete(f"/api/v1/people/{admin.id}", headers=head.headers),
    ):
        answer = attempt()
        assert answer.status_code == 403 and "only an admin" in answer.json()["detail"], answer.text
    assert client.get("/api/v1/me", headers=admin.headers).json()["name"] == "Lab Admin"
    other = make_person(Role.STUDENT, login=False)
    assert client.patch(f"/api/v1/people/{other.id}", json={"active": False}, headers=head.headers).status_code == 200


def test_the_last_admin_cannot_give_up_the_role(client: TestClient, admin: Person,
                                                make_person: Callable[..., Person]) -> None:
    alone = client.patch(f"/api/v1/people/{admin.id}", json={"roles": ["head"]}, headers=admin.headers)
    assert alone.status_code == 409 and "without an active admin" in alone.json()["detail"]
    assert client.get("/api/v1/me", headers=admin.headers).json()["roles"] == ["admin"]
    second = make_person(Role.ADMIN)
    assert client.patch(f"/api/v1/people/{admin.id}", json={"roles": ["head"]}, headers=admin.headers).status_code \
        == 200
    # The remaining admin cannot be deactivated or erased by anyone left who could (no admin but them).
    assert client.patch(f"/api/v1/people/{second.id}", json={"roles": ["lecturer"]},
                        headers=second.headers).status_code == 409


def test_two_admins_taking_the_role_from_each_other_at_once_leave_one(client: TestClient,
                                                                     make_person: Callable[..., Person]) -> None:
    for round_ in range(6):
        first, second = make_person(Role.ADMIN), make_person(Role.ADMIN)
        others = [p for p in client.get("/api/v1/people", params={"role": "admin", "limit": 500},
                                        headers=first.headers).json()["items"]
                  if p["id"] not in (first.id, second.id)]
        for person in others:  # earlier rounds' admins step down, so these two are the only ones
            answer = client.patch(f"/api/v1/people/{person['id']}", json={"roles": ["head"]}, headers=first.headers)
            assert answer.status_code == 200, answer.text
        start = threading.Barrier(2)
        results: dict[str, int] = {}

        def demote(actor: Person, target: Person, start: threading.Barrier = start,
                   results: dict[str, int] = results) -> None:
            start.wait()
            results[actor.id] = client.patch(f"/api/v1/people/{target.id}", json={"roles": ["head"]},
                                             headers=actor.headers).status_code

        threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) in ([200, 401], [200, 409]), (round_, results)
        # 401: the loser's own token lost its admin role before its request was read.


def test_nan_and_infinity_in_a_command_are_422(client: TestClient, admin: Person, kiosk: Kiosk) -> None:
    for number in (b"NaN", b"Infinity", b"-Infinity"):
        answer = client.post(f"/api/v1/devices/{kiosk.id}/commands",
                             content=b'{"kind": "resync", "args": {"x": ' + number + b"}}",
                             headers={**admin.headers, "Content-Type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    fine = client.post(f"/api/v1/devices/{kiosk.id}/commands", json={"kind": "resync", "args": {"x": 1.5}},
                       headers=admin.headers)
    assert fine.status_code == 201
