"""What the server benchmarks share: scratch databases (an empty SQLite file or PostgreSQL database,
migrated, with an admin 1970000001 whose password is ``PASSWORD`` and ``people`` students) and a
real ``labgate-server run`` on a free loopback port. Never imported by tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import insert, update

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from server.auth.actor import Actor

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark password"
ADMIN = "1970000001"


@contextmanager
def empty(kind: str, postgres: str) -> Iterator[str]:
    """The URL of an empty database, dropped (or deleted) on the way out."""
    name = f"labgate_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/{name}.db"
        return
    import psycopg

    admin_url = postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def booking_rows(room_id: str, holder: str, first: datetime, count: int, every: timedelta,
                 status: str) -> list[dict[str, Any]]:
    """``count`` one-hour bookings of a room, one every ``every`` from ``first``, as rows for a bulk
    insert (the overlap rule in the database still checks them)."""
    now = datetime.now(UTC)
    return [{"id": str(uuid.uuid4()), "room_id": room_id, "seat_id": None, "series_id": None, "holder_id": holder,
             "title": "seeded", "starts_at": first + i * every, "ends_at": first + i * every + timedelta(hours=1),
             "blocked_until": first + i * every + timedelta(hours=1), "status": status, "note": "",
             "feed_noted": True, "created_at": now, "updated_at": now} for i in range(count)]


def seed_bookings(session: Session, holders: list[str], count: int, rooms: int = 5) -> None:
    """``count`` bookings over ``rooms`` new rooms (BENCH-1...), from 60 days ago onwards, one every 3 h
    per room, their holders taken in turn from ``holders``: those already over completed (checked in
    at the start), the coming ones confirmed. Bulk inserted; the rooms through the service."""
    from server.bookings import service as bookings
    from server.bookings.schemas import RoomIn
    from server.bookings.tables import Booking

    first = (datetime.now(UTC) - timedelta(days=60)).replace(minute=0, second=0, microsecond=0)
    now, rows = datetime.now(UTC), []
    for number in range(rooms):
        room = bookings.create_room(session, RoomIn(code=f"BENCH-{number + 1}", name=f"Bench room {number + 1}",
                                                    max_ahead_days=730))
        rows += booking_rows(room.id, holders[0], first, count // rooms + (number < count % rooms),
                             timedelta(hours=3), "confirmed")
    for index, row in enumerate(rows):
        row["holder_id"] = holders[index % len(holders)]
        if row["ends_at"] < now:
            row.update(status="completed", checked_in_at=row["starts_at"], check_in_method="face")
    session.execute(insert(Booking), rows)
    session.commit()


def seed_applications(session: Session, actor: Actor, lecturer_id: str, applicants: list[str], count: int,
                      vacancies: int = 10) -> None:
    """``vacancies`` open vacancies (through the service, ``lecturer_id`` named on each) and ``count``
    applications spread over them, bulk inserted with their history, in every state (a tenth accepted,
    counted on the vacancy); ``applicants[0]`` applies to every vacancy. No documents."""
    from server.recruitment import service as recruitment
    from server.recruitment.schemas import ApplicationState, VacancyIn, VacancyState
    from server.recruitment.tables import Application, ApplicationHistory, Vacancy

    now = datetime.now(UTC)
    per = -(-count // vacancies)
    states = [ApplicationState.SUBMITTED] * 5 + [ApplicationState.CHECKED] * 2 + [
        ApplicationState.REJECTED, ApplicationState.WITHDRAWN, ApplicationState.ACCEPTED]
    applications: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for number in range(vacancies):
        vacancy = recruitment.create_vacancy(session, actor, VacancyIn(
            course_code=f"IF{2100 + number}", course_name=f"Bench course {number}", period="2026/2027-1",
            quota=per, opens_at=now - timedelta(days=10), closes_at=now + timedelta(days=20),
            description="Seeded for the benchmark. " * 10, lecturers=[lecturer_id], min_ipk=3.0))
        recruitment.set_state(session, actor, vacancy.id, VacancyState.OPEN)
        chosen = list(dict.fromkeys([applicants[0]] + [applicants[1 + (number + j * 33) % (len(applicants) - 1)]
                                                       for j in range(per)]))
        chosen = chosen[:min(per, count - len(applications))]
        for j, person_id in enumerate(chosen):
            state = states[j % len(states)]
            application_id = str(uuid.uuid4())
            applications.append({
                "id": application_id, "vacancy_id": vacancy.id, "person_id": person_id,
                "email": f"student{j}@example.org", "whatsapp": "+6281234567890", "semester": 3 + j % 5,
                "declared_ipk": 3.0 + (j % 10) / 10, "state": state.value,
                "outcome": None if state in (ApplicationState.SUBMITTED, ApplicationState.WITHDRAWN) else "met",
                "findings": None, "created_at": now, "updated_at": now})
            history.append({"application_id": application_id, "from_state": None, "to_state": "submitted",
                            "by": person_id, "at": now, "reason": "applied"})
            if state is not ApplicationState.SUBMITTED:
                history.append({"application_id": application_id, "from_state": "submitted", "to_state": state.value,
                                "by": actor.person_id, "at": now, "reason": "seeded"})
        accepted = sum(a["state"] == "accepted" for a in applications if a["vacancy_id"] == vacancy.id)
        session.execute(update(Vacancy).where(Vacancy.id == vacancy.id).values(accepted=accepted))
    session.execute(insert(Application), applications)
    session.execute(insert(ApplicationHistory), history)
    session.commit()


def seed(url: str, people_count: int) -> None:
    """Migrate, then add the admin (with ``PASSWORD``) and ``people_count`` students."""
    from server.auth import service as auth
    from server.auth.passwords import Passwords
    from server.auth.roles import Role
    from server.core import migrations
    from server.core.database import Database
    from server.core.settings import Settings
    from server.people import service as people
    from server.people.schemas import Kind, PersonIn

    database = Database(url)
    migrations.upgrade(database)
    settings = Settings(database_url=url)
    keys = auth.Keys(settings, Passwords(settings), b"unused")
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number=ADMIN, name="Bench Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, keys, None, admin.id, PASSWORD)
        for i in range(people_count):
            people.create(session, None, PersonIn(number=f"22010{i:05d}", name=f"Student {i}"))
    database.dispose()


@contextmanager
def scratch(kind: str, postgres: str, people_count: int) -> Iterator[str]:
    """``empty`` then ``seed``."""
    with empty(kind, postgres) as url:
        seed(url, people_count)
        yield url


def scratch_database(kind: str, postgres: str) -> tuple[str, Callable[[], None]]:
    """(URL, cleanup) of an empty database (``empty`` for callers that cannot use a ``with``)."""
    context = empty(kind, postgres)
    url = context.__enter__()

    def cleanup() -> None:
        context.__exit__(None, None, None)

    return url, cleanup


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """A `labgate-server run` on a free loopback port, up and answering /health; the caller stops it."""
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning"}
    log = os.environ.get("BENCH_SERVER_LOG")  # a file for the server's log, when something goes wrong
    with Path(log).open("a") if log else nullcontext(None) as log_file:  # the server keeps its own copy
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(port), "--workers",
                                    str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=log_file or subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=30)
    raise RuntimeError(f"labgate-server did not start on {base}; set BENCH_SERVER_LOG=<file> to see its log")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def serving(url: str, workers: int) -> Iterator[str]:
    """``start``, then stop the server on the way out."""
    process, base = start(url, workers)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
