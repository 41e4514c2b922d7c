"""The cheap ordinary path (issue 14) gives up nothing: a signed-in request is checked against the
live rows on every call (no cache to outlive a deactivation or a removed role: only a token's signature
is remembered, and its expiry still holds), the people page read
with Core queries says what the ORM rows say, and a sequence with a repeated seq still shows its gap.
On SQLite and PostgreSQL (the fixtures run every test on both)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from server.auth import loop_reads, tokens
from server.auth.roles import Role
from server.core import database as databases
from server.core import health, migrations
from server.core.database import Database
from server.core.health import Revisions
from server.people.schemas import PersonOut
from server.people.tables import Person as PersonRow
from tests.server.conftest import ADMIN_PASSWORD, Kiosk, Person, Served
from tests.server.events import event, push

PEOPLE = "/api/v1/people?limit=5"


def _sql(database: Database, statement: str, **values: object) -> None:
    """A change made straight in the database, as another process or an admin's SQL would."""
    with database.engine.begin() as connection:
        connection.execute(text(statement), values)


def test_a_token_stops_the_moment_its_person_is_deactivated_in_the_database(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    lecturer = make_person(Role.LECTURER)
    assert client.get(PEOPLE, headers=lecturer.headers).status_code == 200
    _sql(database, "UPDATE people SET active = :no WHERE id = :id", no=False, id=lecturer.id)
    stopped = client.get(PEOPLE, headers=lecturer.headers)
    assert stopped.status_code == 401 and "deactivated" in stopped.json()["detail"]
    _sql(database, "UPDATE people SET active = :yes WHERE id = :id", yes=True, id=lecturer.id)
    assert client.get(PEOPLE, headers=lecturer.headers).status_code == 200  # read live, not remembered


def test_a_token_stops_the_moment_its_role_is_removed_in_the_database(
        client: TestClient, database: Database, admin: Person, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.LECTURER, Role.TECHNICIAN)  # signed in as lecturer
    assert client.get(PEOPLE, headers=person.headers).status_code == 200
    _sql(database, "DELETE FROM person_roles WHERE person_id = :id AND role = 'lecturer'", id=person.id)
    stopped = client.get(PEOPLE, headers=person.headers)
    assert stopped.status_code == 401 and "lecturer" in stopped.json()["detail"]
    _sql(database, "INSERT INTO person_roles (person_id, role) VALUES (:id, 'lecturer')", id=person.id)
    assert client.get(PEOPLE, headers=person.headers).status_code == 200
    _sql(database, "DELETE FROM people WHERE id = :id", id=person.id)
    assert client.get(PEOPLE, headers=person.headers).status_code == 401


def test_a_token_whose_signature_was_checked_still_expires_on_time(client: TestClient, app: FastAPI,
                                                                  admin: Person) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": tokens.ISSUER, "sub": admin.id, "role": "admin", "typ": "access", "jti": "short",
                        "iat": now, "exp": now + 2}, app.state.auth_keys.jwt_secret, algorithm=tokens.ALGORITHM)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(PEOPLE, headers=headers).status_code == 200
    assert client.get(PEOPLE, headers=headers).status_code == 200  # the remembered signature
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(PEOPLE, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    time.sleep(max(0.0, now + 2.05 - time.time()))
    refused = client.get(PEOPLE, headers=headers)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"], refused.text
    assert client.get(PEOPLE, headers=headers).status_code == 401


def test_the_token_checks_own_connections_come_back_after_being_cut(client: TestClient, database: Database,
                                                                    database_url: str, admin: Person) -> None:
    """PostgreSQL: the token check's connections (read on the event loop) cut by the server; the requests
    meanwhile are answered (the pool's read stands in) and the check opens new ones."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose")
    named = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = "
             f"'{loop_reads.APPLICATION_NAME}'")
    assert client.get(PEOPLE, headers=admin.headers).status_code == 200
    with database.engine.connect() as connection:
        before = set(connection.execute(text(named)).scalars())
    assert before, "the token check reads on connections of its own"
    _sql(database, f"SELECT pg_terminate_backend(pid) FROM ({named}) AS cut")
    time.sleep(0.1)
    for _ in range(3):
        answer = client.get(PEOPLE, headers=admin.headers)
        assert answer.status_code == 200, answer.text
    with database.engine.connect() as connection:
        after = set(connection.execute(text(named)).scalars())
    assert after and not after & before


def test_the_actor_carries_every_role_held(client: TestClient, make_person: Callable[..., Person]) -> None:
    person = make_person(Role.TECHNICIAN, Role.LECTURER, Role.STUDENT)
    me = client.get("/api/v1/me", headers=person.headers)
    assert me.status_code == 200, me.text
    assert sorted(me.json()["roles"]) == ["lecturer", "student", "technician"]


def test_the_people_page_says_what_the_rows_say(client: TestClient, database: Database, admin: Person,
                                                make_person: Callable[..., Person]) -> None:
    for i in range(7):
        make_person(*([Role.LECTURER, Role.TECHNICIAN] if i % 3 == 0 else [Role.STUDENT]), number=f"22100000{i:02d}",
                    name=f"Rina {'Putri' if i % 2 else 'Sari'} {i}", login=False)
    _sql(database, "UPDATE people SET active = :no WHERE number = '2210000004'", no=False)
    _sql(database, "UPDATE people SET pin_hash = 'x' WHERE number = '2210000003'")
    with database.session() as session:
        everyone = [PersonOut.of(p).model_dump(mode="json")
                    for p in session.scalars(select(PersonRow).order_by(PersonRow.number))]

    def expected(keep: Callable[[dict[str, object]], bool], offset: int, limit: int) -> dict[str, object]:
        kept = [p for p in everyone if keep(p)]
        return {"items": kept[offset:offset + limit], "total": len(kept), "offset": offset, "limit": limit}

    cases: list[tuple[str, Callable[[dict[str, object]], bool], int, int]] = [
        ("", lambda p: True, 0, 50),
        ("", lambda p: True, 2, 3),
        ("", lambda p: True, 40, 5),  # past the end: no items, the total still counted
        ("&role=lecturer", lambda p: "lecturer" in p["roles"], 0, 50),  # type: ignore[operator]
        ("&active=false", lambda p: p["active"] is False, 0, 50),
        ("&q=putri", lambda p: "putri" in str(p["name"]).lower(), 0, 2),
        ("&q=221", lambda p: str(p["number"]).startswith("221"), 1, 50),
        ("&q=sari&role=technician&active=true",
         lambda p: "sari" in str(p["name"]).lower() and "technician" in p["roles"] and p["active"] is True, 0, 50),  # type: ignore[operator]
    ]
    for query, keep, offset, limit in cases:
        page = client.get(f"/api/v1/people?offset={offset}&limit={limit}{query}", headers=admin.headers)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "application/json"
        assert page.json() == expected(keep, offset, limit), query


def test_a_repeated_seq_does_not_hide_a_gap(client: TestClient, kiosk: Kiosk) -> None:
    reply = push(client, kiosk, [event(1), event(1), event(3)]).json()  # two events with seq 1, none with 2
    assert [r["status"] for r in reply["results"]] == ["accepted"] * 3
    assert reply["missing_seq"] == [[2, 2]]
    assert push(client, kiosk, [event(2)]).json()["missing_seq"] == []


def test_deactivation_stops_a_token_at_once_under_concurrent_load(served: Served) -> None:
    """A real server with requests in flight from many clients: once the deactivation is answered,
    every request sent after it is refused."""
    with httpx.Client(base_url=served.base, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"number": "1970000001", "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        number = f"19{threading.get_ident() % 10**8:08d}"
        made = client.post("/api/v1/people", json={"number": number, "name": "Load Lecturer", "kind": "staff",
                                                   "roles": ["lecturer"]}, headers=admin)
        assert made.status_code == 201, made.text
        person_id = made.json()["id"]
        assert client.put(f"/api/v1/people/{person_id}/password", json={"password": "a fine long password"},
                          headers=admin).status_code in (200, 204)
        token = client.post("/api/v1/auth/login", json={"number": number, "password": "a fine long password"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    stop = threading.Event()
    deactivated = threading.Event()
    late: list[int] = []  # statuses of requests sent after the deactivation was answered
    early: list[int] = []

    def hammer() -> None:
        with httpx.Client(base_url=served.base, timeout=30, headers=headers) as own:
            while not stop.is_set():
                after = deactivated.is_set()
                status = own.get(PEOPLE).status_code
                (late if after else early).append(status)

    workers = [threading.Thread(target=hammer) for _ in range(12)]
    for worker in workers:
        worker.start()
    try:
        while len(early) < 60:
            stop.wait(0.05)
        with httpx.Client(base_url=served.base, timeout=30) as client:
            changed = client.patch(f"/api/v1/people/{person_id}", json={"active": False}, headers=admin)
        assert changed.status_code == 200, changed.text
        deactivated.set()
        while len(late) < 60:
            stop.wait(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert set(early) <= {200, 401} and 200 in early
    assert set(late) == {401}, sorted(set(late))


def test_a_health_probe_gets_a_read_begun_after_it_arrived_and_a_crowd_shares_reads() -> None:
    """/health's revision reads (PostgreSQL's way: in a worker thread, one at a time): 40 probes
    arriving over 0.3 s while each read takes 50 ms are answered by a few reads, and no probe by a
    read that began before it arrived (a change made before a probe is always seen by it)."""

    class Remote:  # the database's side Revisions uses; reads go to a worker thread as on PostgreSQL
        in_process = False
        dialect = "remote"

        async def call(self, function: Callable[[], Any]) -> Any:
            return await anyio.to_thread.run_sync(function)

    began: list[float] = []

    def read() -> str:
        began.append(time.monotonic())
        number = len(began)
        time.sleep(0.05)
        return str(number)

    revisions = Revisions(Remote())  # type: ignore[arg-type]
    revisions.read = read  # type: ignore[method-assign]

    async def probe(delay: float) -> tuple[float, int]:
        await asyncio.sleep(delay)
        arrived = time.monotonic()
        return arrived, int(await revisions.current() or 0)

    async def crowd() -> list[tuple[float, int]]:
        return await asyncio.gather(*(probe(i * 0.0075) for i in range(40)))

    answers = asyncio.run(crowd())
    for arrived, read_number in answers:
        assert began[read_number - 1] >= arrived
    assert len(began) <= 12, len(began)


def test_the_health_read_needs_no_alembic_on_a_healthy_database(database: Database, monkeypatch: Any) -> None:
    """/health's own query answers (Alembic's slower reading is only the fallback, for its message),
    again and again on its one connection, and sees a change made meanwhile."""
    head = migrations.head()

    def no_alembic(_: Database) -> None:
        raise AssertionError("fell back to Alembic's reading")

    revisions = Revisions(database)
    try:
        monkeypatch.setattr(health.migrations, "current", no_alembic)
        assert [revisions.read() for _ in range(3)] == [head] * 3
        _sql(database, "UPDATE alembic_version SET version_num = 'abc123'")
        assert revisions.read() == "abc123"
        _sql(database, "UPDATE alembic_version SET version_num = :head", head=head)
        assert revisions.read() == head
    finally:
        revisions.close()


def test_a_pooled_connection_that_died_while_resting_is_replaced(database_url: str, monkeypatch: Any) -> None:
    """PostgreSQL connections are pinged on checkout only after resting (not on every request): one
    whose server process ended while it rested is replaced before a statement fails on it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose")
    monkeypatch.setattr(databases, "PING_AFTER", 0.0)
    database, killer = Database(database_url), Database(database_url)
    try:
        with database.engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with killer.engine.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        time.sleep(0.05)
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        database.dispose()
        killer.dispose()
