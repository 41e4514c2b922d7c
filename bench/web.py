"""Web pages: time to first byte of the busiest pages with 1,000 people, a month of kiosk attendance,
announcements, 5,000 room bookings and 300 assistant applications in the database, against a real
`labgate-server run` on loopback.

    .venv/bin/python bench/web.py [--people 1000] [--days 30] [--announcements 50] [--bookings 5000]
                                  [--applications 300] [--requests 200] [--concurrency 1]
                                  [--backends sqlite,postgresql]

The pages measured are ``PAGES``, paths per role (admin, lecturer, student: each signs in with its own
account); a new page is one more path there. The bookings (five rooms, 60 days past and the rest
coming, the student among the holders) and applications (ten open vacancies run by the lecturer, the
student applying to each) are bulk inserted, so that their pages read realistic amounts. Each page
is fetched ``--requests`` times by ``--concurrency`` clients, each signed in with its own cookie session;
the time to first byte is from sending the request to having the response's headers (the pages are
rendered whole before the first byte). The load generator shares the CPUs with the server.
Prints a table; never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchdb import (  # noqa: E402
    PASSWORD,
    percentile,
    scratch_database,
    seed_applications,
    seed_bookings,
    serving,
)
from server.auth import service as auth  # noqa: E402
from server.auth.actor import Actor  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.roles import Role  # noqa: E402
from server.core import migrations  # noqa: E402
from server.core.clock import iso, utcnow  # noqa: E402
from server.core.database import Database  # noqa: E402
from server.core.settings import Settings  # noqa: E402
from server.notifications import announcements  # noqa: E402
from server.notifications.schemas import AnnouncementIn, AudienceIn  # noqa: E402
from server.people import service as people  # noqa: E402
from server.people.schemas import Kind, PersonIn  # noqa: E402

REFERENCE = "seeds' FastAPI system: 618 ms mean response (the seeds system measured in earlier stops)"
ADMIN, LECTURER, STUDENT = "1970000001", "1970000002", "2201000000"
ACCOUNTS = {"admin": ADMIN, "lecturer": LECTURER, "student": STUDENT}
PAGES = {  # role: the pages its people open most
    "student": ["/home", "/me/attendance", "/announcements", "/bookings", "/bookings/mine", "/vacancies",
                "/me/applications"],
    "lecturer": ["/home", "/bookings/rooms", "/bookings/mine", "/vacancies"],
    "admin": ["/admin/people", "/admin/attendance", "/admin/kiosks", "/admin/approvals", "/admin/no-shows"],
}


def seed(url: str, count: int, announced: int, booked: int, applied: int) -> None:
    database = Database(url)
    migrations.upgrade(database)
    settings = Settings(database_url=url)
    keys = auth.Keys(settings, Passwords(settings), b"unused")
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number=ADMIN, name="Bench Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, keys, None, admin.id, PASSWORD)
        lecturer = people.create(session, None, PersonIn(number=LECTURER, name="Bench Lecturer", kind=Kind.STAFF,
                                                         roles=[Role.LECTURER]))
        auth.set_password(session, keys, None, lecturer.id, PASSWORD)
        students = []
        for i in range(count):
            person = people.create(session, None, PersonIn(number=f"22010{i:05d}", name=f"Student {i}"))
            students.append(person.id)
            if i == 0:
                auth.set_password(session, keys, None, person.id, PASSWORD)
        actor = Actor(admin.id, ADMIN, "Bench Admin", "admin", ("admin",))
        for i in range(announced):
            announcements.post(session, actor, AnnouncementIn(title=f"Announcement {i}", body="Lab news. " * 20,
                                                              audience=AudienceIn(everyone=True)))
        seed_bookings(session, students, booked)
        seed_applications(session, actor, lecturer.id, students, applied)
    database.dispose()


def signed_in(base: str, number: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token, "no sign-in form"
    answer = client.post("/login", data={"number": number, "password": PASSWORD, "csrf": token.group(1)})
    assert answer.status_code == 303, answer.text
    return client


def kiosk_events(base: str, admin: httpx.Client, count: int, days: int) -> None:
    """A kiosk registered on the pages' API twin, activated, pushing a month of accepts: each person on
    most days."""
    token = httpx.post(f"{base}/api/v1/auth/login", json={"number": ADMIN, "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    made = httpx.post(f"{base}/api/v1/devices", json={"name": "bench door", "room": "LAB-1", "model_id": "m"},
                      headers=bearer).json()
    device, secret = made["device"]["id"], secrets.token_urlsafe(32)
    httpx.post(f"{base}/api/v1/devices/{device}:activate",
               json={"provisioning_token": made["provisioning_token"], "device_token": secret}).raise_for_status()
    now, seq, batch = utcnow(), 0, []
    kiosk = {"Authorization": f"Bearer {secret}"}
    for day in range(days):
        for person in range(count):
            if (person + day) % 4 == 0:
                continue  # absent one day in four
            seq += 1
            batch.append({"id": str(uuid.uuid4()), "seq": seq, "person": f"22010{person:05d}", "outcome": "accept",
                          "method": "face", "score": 0.7, "margin": 0.2, "model_id": "m",
                          "captured_at": iso(now - timedelta(days=day, minutes=person % 300)),
                          "clock_suspect": False})
            if len(batch) == 500:
                httpx.post(f"{base}/api/v1/devices/{device}/events:batch", json={"events": batch}, timeout=120,
                           headers={**kiosk, "Idempotency-Key": str(uuid.uuid4())}).raise_for_status()
                batch = []
    if batch:
        httpx.post(f"{base}/api/v1/devices/{device}/events:batch", json={"events": batch}, timeout=120,
                   headers={**kiosk, "Idempotency-Key": str(uuid.uuid4())}).raise_for_status()


def first_byte(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    with client.stream("GET", path) as answer:
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code}")
        answer.read()
    return elapsed * 1000


def measure(base: str, who: str, path: str, requests: int, concurrency: int) -> list[float]:
    clients = [signed_in(base, ACCOUNTS[who]) for _ in range(concurrency)]
    first_byte(clients[0], path)  # warm
    share = requests // concurrency

    def run(client: httpx.Client) -> list[float]:
        return [first_byte(client, path) for _ in range(share)]

    with ThreadPoolExecutor(concurrency) as pool:
        times = [t for part in pool.map(run, clients) for t in part]
    for client in clients:
        client.close()
    return times


def run(kind: str, args: argparse.Namespace) -> list[tuple[str, str, float, float, float]]:
    url, cleanup = scratch_database(kind, args.postgres)
    try:
        seed(url, args.people, args.announcements, args.bookings, args.applications)
        with serving(url, 1) as base:
            admin = signed_in(base, ADMIN)
            kiosk_events(base, admin, args.people, args.days)
            rows = []
            for who, path in ((who, path) for who, paths in PAGES.items() for path in paths):
                times = measure(base, who, path, args.requests, args.concurrency)
                rows.append((kind, f"{who} {path}", statistics.median(times), percentile(times, 0.95),
                             statistics.mean(times)))
            return rows
    finally:
        cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--announcements", type=int, default=50)
    parser.add_argument("--bookings", type=int, default=5000)
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    results: list[Any] = []
    for kind in args.backends.split(","):
        results.extend(run(kind.strip(), args))
    print(f"\nweb pages, time to first byte: {args.people:,} people, {args.days} days of kiosk accepts "
          f"(3 days in 4 each), {args.announcements} announcements to everyone, {args.bookings:,} bookings, "
          f"{args.applications} applications; {args.requests} requests per page, "
          f"{args.concurrency} client(s); {os.cpu_count()} CPUs shared with the load\n")
    print("| database | page | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|---|")
    for kind, page, p50, p95, mean in results:
        print(f"| {kind} | {page} | {p50:.1f} | {p95:.1f} | {mean:.1f} |")
    print(f"| reference | (any page) | not reported | not reported | 618 |   ({REFERENCE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
