"""Failed logins: each attempt is counted before its password is checked, atomically in the database,
so parallel guesses cannot all be checked (on SQLite and PostgreSQL); guessing slows down per number
and address, and strangers cannot lock a person (or a lab behind one address) out."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.app import create_app
from server.auth import service as auth
from server.auth.passwords import Passwords
from server.auth.roles import Role
from server.core.database import Database
from server.people import service as people
from server.people.schemas import Kind, PersonIn
from tests.server.conftest import PASSWORD, test_settings

PROXY = "127.0.0.1"


@pytest.fixture
def make_app(database_url: str, database: Database) -> Iterator[Any]:
    """Apps behind a trusted proxy at 127.0.0.1, so each request can name its client address."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> tuple[FastAPI, TestClient]:
        app = create_app(test_settings(database_url, trusted_proxies=PROXY, **overrides), database)
        client = TestClient(app, client=(PROXY, 40000))
        client.__enter__()
        clients.append(client)
        return app, client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _person(app: FastAPI, number: str, *roles: Role) -> str:
    with app.state.database.session() as session:
        person = people.create(session, None, PersonIn(number=number, name="Someone", kind=Kind.STAFF,
                                                       roles=list(roles or (Role.STUDENT,))))
        auth.set_password(session, app.state.auth_keys, None, person.id, PASSWORD)
    return person.id


def _login(client: TestClient, number: str, address: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"number": number, "password": password},
                       headers={"X-Forwarded-For": address})


def _together(count: int, attempt: Any) -> Counter[int]:
    """``count`` attempts released at once; their status codes."""
    start = threading.Barrier(count)

    def one(_: int) -> int:
        start.wait()
        return int(attempt().status_code)

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(one, range(count)))


def test_thirty_simultaneous_wrong_logins_get_five_checks_and_the_right_password_waits(make_app: Any) -> None:
    # Every thread may hash at once, so the only thing keeping them apart is the database's count.
    app, client = make_app(argon2_max_concurrent=32, argon2_memory_kib=8192)
    _person(app, "2201000001")
    statuses = _together(30, lambda: _login(client, "2201000001", "10.9.9.9", "a wrong guess"))
    assert statuses == Counter({401: 5, 429: 25}), statuses
    blocked = _login(client, "2201000001", "10.9.9.9")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_a_stranger_cannot_lock_the_owner_out(make_app: Any) -> None:
    app, client = make_app()
    admin_id = _person(app, "1970000009", Role.ADMIN)
    assert _login(client, "1970000009", "10.0.0.7").status_code == 200  # the admin's own office address
    for _ in range(8):
        _login(client, "1970000009", "198.51.100.4", "a wrong guess")
    stranger = _login(client, "1970000009", "198.51.100.4")
    assert stranger.status_code == 429, "the guesser's address waits, even with the right password"
    assert "198.51.100.4" in stranger.json()["detail"]
    assert _login(client, "1970000009", "10.0.0.7").status_code == 200
    assert _login(client, "1970000009", "10.0.0.8").status_code == 200, "a new address of the owner's works too"
    # Guessing from many addresses slows the number down only where it never signed in from.
    for n in range(25):
        _login(client, "1970000009", f"203.0.113.{n}", "a wrong guess")
    new_place = _login(client, "1970000009", "10.0.0.99")
    assert new_place.status_code == 429 and "address you used before" in new_place.json()["detail"]
    assert _login(client, "1970000009", "10.0.0.7").status_code == 200
    tokens = _login(client, "1970000009", "10.0.0.7").json()
    cleared = client.delete(f"/api/v1/people/{admin_id}/login-limits",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert cleared.status_code == 200 and cleared.json()["cleared"] >= 1
    assert _login(client, "1970000009", "10.0.0.99").status_code == 200


def test_one_address_trying_many_numbers_slows_down_but_not_for_people_who_signed_in_there(make_app: Any) -> None:
    app, client = make_app(login_client_max_failures=10)
    lab = "192.0.2.1"  # a whole lab behind one NAT address
    _person(app, "2201000002")
    _person(app, "2201000003")
    assert _login(client, "2201000002", lab).status_code == 200
    for n in range(12):
        _login(client, f"22019{n:05d}", lab, "spray")
    assert _login(client, "2201000003", lab).status_code == 429, "a number new to the address waits"
    assert _login(client, "2201000002", lab).status_code == 200, "who signed in from the lab before does not"
    assert _login(client, "2201000003", "192.0.2.77").status_code == 200


def test_each_failure_past_the_limit_doubles_the_wait(make_app: Any) -> None:
    app, client = make_app(login_max_failures=2, login_delay_seconds=1, login_max_delay_seconds=2)
    _person(app, "2201000004")
    assert [_login(client, "2201000004", "10.1.1.1", "no").status_code for _ in range(3)] == [401, 401, 429]
    assert _login(client, "2201000004", "10.1.1.1", "no").headers["Retry-After"] == "1"
    time.sleep(1.1)
    assert _login(client, "2201000004", "10.1.1.1", "no").status_code == 401
    second = _login(client, "2201000004", "10.1.1.1", "no")
    assert second.status_code == 429 and second.headers["Retry-After"] == "2"
    time.sleep(2.1)
    assert _login(client, "2201000004", "10.1.1.1").status_code == 200
    assert [_login(client, "2201000004", "10.1.1.1", "no").status_code for _ in range(2)] == [401, 401], \
        "a success starts the count again"


def test_the_number_of_hashes_at_once_is_bounded() -> None:
    settings = test_settings("sqlite://", argon2_max_concurrent=2, argon2_memory_kib=8192)
    passwords = Passwords(settings)
    stored = passwords.hash("a password to check")
    busy, most = 0, 0
    lock = threading.Lock()
    plain = passwords.hasher

    class Counting:
        """The real hasher, counting how many verify at once."""

        def verify(self, *args: Any) -> Any:
            nonlocal busy, most
            with lock:
                busy += 1
                most = max(most, busy)
            try:
                time.sleep(0.02)
                return plain.verify(*args)
            finally:
                with lock:
                    busy -= 1

    passwords.hasher = Counting()  # type: ignore[assignment]
    with ThreadPoolExecutor(16) as pool:
        assert not any(pool.map(lambda _: passwords.verify(stored, "wrong"), range(32)))
    assert most == 2


def test_a_login_that_finds_every_turn_busy_is_503_and_not_counted(make_app: Any) -> None:
    app, client = make_app(argon2_max_concurrent=1, argon2_wait_seconds=0.2, login_max_failures=1)
    _person(app, "2201000005")
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with app.state.auth_keys.passwords.turn():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(5)
        busy = _login(client, "2201000005", "10.2.2.2", "wrong")
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
        assert busy.headers["content-type"] == "application/problem+json"
    finally:
        release.set()
        holder.join()
    assert _login(client, "2201000005", "10.2.2.2").status_code == 200, "the busy attempt was not counted"
