"""Many people booking the same time at once, against a real `labgate-server run` on loopback, on
SQLite and PostgreSQL: exactly one wins each round, the others get 409 naming the winner's time, and
no two slot-holding rows overlap afterwards (the rule lives in the database)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from server.bookings import service
from server.core.database import Database
from tests.server.conftest import ADMIN_PASSWORD, CLI, Backends, free_port, run_cli

CLIENTS = 50
ROUNDS = 20
PASSWORD = "a booking race password"


@dataclass(frozen=True)
class Booker:
    base: str
    url: str
    admin: dict[str, str]


@pytest.fixture(scope="module")
def booker(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booker]:
    """A server of its own: cheap password hashing (50 people sign in), the no-show job off."""
    url = backends.new()
    assert run_cli(url, "migrate").returncode == 0
    made = run_cli(url, "create-admin", "--number", "1970000001", "--name", "Lab Admin", "--password-stdin",
                   stdin=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false",
           "LABGATE_ARGON2_MEMORY_KIB": "1024", "LABGATE_ARGON2_TIME_COST": "1", "LABGATE_ARGON2_MAX_CONCURRENT": "8",
           "LABGATE_BOOKING_JOB_SECONDS": "0"}
    log = tmp_path_factory.mktemp("booker") / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen([*CLI, "run", "--port", str(port), "--no-access-log"], env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not come up: {log.read_text()}")
        tokens = httpx.post(f"{base}/api/v1/auth/login", json={"number": "1970000001", "password": ADMIN_PASSWORD})
        yield Booker(base, url, {"Authorization": f"Bearer {tokens.json()['access_token']}"})
    finally:
        process.terminate()
        process.wait(timeout=15)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _people(live: Booker, count: int) -> list[dict[str, str]]:
    def make(index: int) -> dict[str, str]:
        number = f"1988{index:06d}"
        with httpx.Client(base_url=live.base, timeout=60) as client:
            made = client.post("/api/v1/people", json={"number": number, "name": f"Lecturer {index}", "kind": "staff",
                                                       "roles": ["lecturer"]}, headers=live.admin)
            assert made.status_code == 201, made.text
            client.put(f"/api/v1/people/{made.json()['id']}/password", json={"password": PASSWORD},
                       headers=live.admin).raise_for_status()
            login = client.post("/api/v1/auth/login", json={"number": number, "password": PASSWORD})
            assert login.status_code == 200, login.text
            return {"Authorization": f"Bearer {login.json()['access_token']}"}

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(make, range(count)))


def test_fifty_clients_booking_one_room_at_once_leave_exactly_one_winner_per_round(booker: Booker) -> None:
    room = httpx.post(f"{booker.base}/api/v1/rooms", json={"code": "RACE-1", "name": "Race room"},
                      headers=booker.admin)
    assert room.status_code == 201, room.text
    people = _people(booker, CLIENTS)
    first_day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
    clients = [httpx.Client(base_url=booker.base, timeout=120) for _ in range(CLIENTS)]
    outcomes: list[Counter[int]] = []
    try:
        for round_ in range(ROUNDS):
            start = first_day + timedelta(days=round_)
            gate = threading.Barrier(CLIENTS)

            def attempt(index: int, start: datetime = start, gate: threading.Barrier = gate) -> tuple[int, str]:
                begins = start + timedelta(minutes=index % 30)  # every pair overlaps: all within one hour
                gate.wait()
                answer = clients[index].post("/api/v1/bookings", headers=people[index], json={
                    "room_id": room.json()["id"], "title": f"round {start:%d} client {index}",
                    "starts_at": begins.isoformat(), "ends_at": (begins + timedelta(hours=1)).isoformat()})
                return answer.status_code, answer.text

            with ThreadPoolExecutor(CLIENTS) as pool:
                answers = list(pool.map(attempt, range(CLIENTS)))
            statuses = Counter(status for status, _ in answers)
            assert statuses == Counter({201: 1, 409: CLIENTS - 1}), (round_, statuses,
                                                                     [t for s, t in answers if s not in (201, 409)])
            assert all("clashes" in body for status, body in answers if status == 409)
            outcomes.append(statuses)
    finally:
        for client in clients:
            client.close()
    assert len(outcomes) == ROUNDS
    database = Database(booker.url)
    try:
        with database.session() as session:
            assert service.overlapping_rows(session) == 0
            held = session.execute(text("SELECT count(*) FROM bookings WHERE status = 'confirmed'")).scalar()
        assert held == ROUNDS
    finally:
        database.dispose()


def test_seat_and_whole_room_racing_leave_no_overlap(booker: Booker) -> None:
    room = httpx.post(f"{booker.base}/api/v1/rooms", json={"code": "RACE-2", "name": "Seats"}, headers=booker.admin)
    assert room.status_code == 201, room.text
    seats = [httpx.post(f"{booker.base}/api/v1/rooms/{room.json()['id']}/seats",
                        json={"code": f"PC-{i}", "name": f"PC {i}"}, headers=booker.admin).json()["id"]
             for i in range(4)]
    start = (datetime.now(UTC) + timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    gate = threading.Barrier(20)

    def attempt(index: int) -> int:
        seat = None if index % 5 == 0 else seats[index % 4]
        with httpx.Client(base_url=booker.base, timeout=120) as client:
            gate.wait()
            return client.post("/api/v1/bookings", headers=booker.admin, json={
                "room_id": room.json()["id"], "seat_id": seat, "title": f"seat race {index}",
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = Counter(pool.map(attempt, range(20)))
    assert set(statuses) <= {201, 409} and 1 <= statuses[201] <= 4, statuses
    database = Database(booker.url)
    try:
        with database.session() as session:
            assert service.overlapping_rows(session) == 0
    finally:
        database.dispose()



