"""Room bookings on SQLite and PostgreSQL: what the overlap rule and the no-show job cost.

    .venv/bin/python bench/bookings.py [--only sqlite|postgresql] [--book 300] [--queries 200]

Per database, in a room that already holds 5,000 bookings (1 h each, every 2 h):
- bookings created per second through the service (rules, the clash question, the insert that the
  exclusion constraint or the SQLite trigger checks, the feed journal, the commit), one writer;
  reference: the same rows as plain INSERTs with no question asked;
- p50/p95 of a month's availability query for the room; reference: reading every row of the room;
- the release job passing over 10,000 due bookings (all no-shows: every one released, its holder
  told); reference: one plain UPDATE of 10,000 rows.

PostgreSQL is the one at $LABGATE_TEST_POSTGRES (default postgresql://root@127.0.0.1:5432/test); a
scratch database is made and dropped. The machine is shared (2 cores): figures are indicative.
Never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/server.py must not shadow the server package

from bench.benchdb import booking_rows  # noqa: E402
from server.auth.actor import Actor  # noqa: E402
from server.bookings import checkin, service  # noqa: E402
from server.bookings.schemas import BookingIn, RoomIn  # noqa: E402
from server.bookings.tables import Booking  # noqa: E402
from server.core import migrations  # noqa: E402
from server.core.database import Database  # noqa: E402
from server.core.settings import Settings  # noqa: E402
from server.people import service as people  # noqa: E402
from server.people.schemas import Kind, PersonIn  # noqa: E402

POSTGRES = os.environ.get("LABGATE_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
EXISTING = 5_000
RELEASE = 10_000


@contextmanager
def scratch(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    import psycopg

    name = f"labgate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def run(kind: str, book: int, queries: int) -> dict[str, str]:
    with scratch(kind) as url:
        database = Database(url)
        migrations.upgrade(database)
        settings = Settings(database_url=url, booking_job_seconds=0)
        with database.session() as session:
            admin = people.create(session, None, PersonIn(number="1970000001", name="Admin", kind=Kind.STAFF,
                                                          roles=["admin"]))  # type: ignore[list-item]
            room = service.create_room(session, RoomIn(code="BENCH-1", name="Bench", max_ahead_days=730))
            other = service.create_room(session, RoomIn(code="BENCH-2", name="Release", max_ahead_days=730))
            plain = service.create_room(session, RoomIn(code="BENCH-3", name="Plain", max_ahead_days=730))
        actor = Actor(admin.id, admin.number, admin.name, "admin", ("admin",))
        first = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        with database.session() as session:
            session.execute(insert(Booking),
                            booking_rows(room.id, admin.id, first, EXISTING, timedelta(hours=2), "confirmed"))
            session.commit()
        # bookings per second: the free hour after each seeded one
        bodies = [BookingIn(room_id=room.id, title="bench", starts_at=first + timedelta(hours=2 * i + 1),
                            ends_at=first + timedelta(hours=2 * i + 2)) for i in range(book)]

        def create_all() -> None:
            for body in bodies:
                with database.session() as session:
                    service.book(session, settings, actor, body)

        made_s = _timed(create_all)
        rows = booking_rows(plain.id, admin.id, first, book, timedelta(hours=2), "confirmed")

        def insert_all() -> None:
            for row in rows:
                with database.session() as session:
                    session.execute(insert(Booking), [row])
                    session.commit()

        plain_s = _timed(insert_all)
        # availability of one month, at random months of the seeded span
        months = [first + timedelta(days=(i * 37) % 360) for i in range(queries)]
        spans: list[float] = []
        for month in months:
            with database.session() as session:
                began = time.perf_counter()
                service.busy(session, room.id, month, month + timedelta(days=30))
                spans.append(time.perf_counter() - began)
        every_row: list[float] = []
        for _ in range(max(10, queries // 10)):
            with database.session() as session:
                began = time.perf_counter()
                service.busy(session, room.id, first - timedelta(days=1), first + timedelta(days=800))
                every_row.append(time.perf_counter() - began)
        # the release job over 10,000 due bookings
        past = datetime.now(UTC) - timedelta(hours=RELEASE + 2)
        with database.session() as session:
            session.execute(insert(Booking),
                            booking_rows(other.id, admin.id, past, RELEASE, timedelta(hours=1), "confirmed"))
            session.commit()
        with database.session() as session:
            began = time.perf_counter()
            released = [checkin.pass_once(session).released]
            job_s = time.perf_counter() - began
        with database.session() as session:
            session.execute(update(Booking).where(Booking.room_id == other.id).values(status="confirmed"))
            session.commit()
            began = time.perf_counter()
            session.execute(update(Booking).where(Booking.room_id == other.id).values(status="released"))
            session.commit()
            update_s = time.perf_counter() - began
        database.dispose()
    p50, p95 = statistics.median(spans), statistics.quantiles(spans, n=20)[18]
    return {
        "bookings/s (rules + clash check + constraint)": f"{book / made_s:8.1f}  ref plain INSERT "
                                                         f"{book / plain_s:8.1f}",
        "month availability p50 / p95 (ms)": f"{p50 * 1000:6.2f} / {p95 * 1000:6.2f}  ref all rows p50 "
                                             f"{statistics.median(every_row) * 1000:6.2f}",
        f"release job over {RELEASE:,} due (s)": f"{job_s:8.2f}  ({released[0]:,} released)  ref one UPDATE "
                                                  f"{update_s:6.2f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--book", type=int, default=300, help="bookings to create (default 300)")
    parser.add_argument("--queries", type=int, default=200, help="availability queries (default 200)")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    print(f"room holding {EXISTING:,} bookings; {args.book} created; {args.queries} month queries")
    for kind in kinds:
        print(f"\n{kind}")
        for what, figure in run(kind, args.book, args.queries).items():
            print(f"  {what:48s} {figure}")


if __name__ == "__main__":
    main()
