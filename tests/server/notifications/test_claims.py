"""The outbox under many senders at once, on SQLite (one claimant at a time) and PostgreSQL (FOR UPDATE
SKIP LOCKED): no message is claimed twice while its lease holds, every one is claimed, a lapsed lease
is claimed again, and a settle with a lost claim changes nothing. Plus the backoff's bounds and
Retry-After's two forms."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from server.auth.roles import Role
from server.core.database import Database
from server.notifications import claims
from server.notifications.channels.base import Retry, Sent, retry_after
from server.notifications.kinds import Channel
from server.notifications.outbox import notify
from server.notifications.settings import NotifySettings
from server.notifications.tables import Message
from server.people import service as people
from server.people.schemas import PersonIn
from tests.server.notifications.test_notify import person

SENDERS = 8


def _queue(database: Database, count: int) -> set[str]:
    with database.session() as session:
        ids = [person(session, f"22010{n:05d}", Role.STUDENT, email=f"s{n}@example.ac.id") for n in range(20)]
        for n in range(count // len(ids)):
            notify(session, topic="bookings", template="announcement",
                   context={"title": "t", "body": "b", "author": "a"}, dedupe_key=f"k:{n}", people=ids)
        session.commit()
        return set(session.scalars(select(Message.id)))


def _one(database: Database) -> str:
    with database.session() as session:
        siti = person(session, "2201000001", Role.STUDENT, email="siti@example.ac.id")
        notify(session, topic="bookings", template="announcement", context={"title": "t", "body": "b", "author": "a"},
               dedupe_key="one", people=[siti])
        session.commit()
        return str(session.scalar(select(Message.id)))


def test_many_senders_at_once_claim_every_message_exactly_once(database: Database) -> None:
    queued = _queue(database, 400)
    taken: list[list[str]] = [[] for _ in range(SENDERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(SENDERS)

    def sender(slot: int) -> None:
        try:
            start.wait()
            while True:
                with database.session() as session:
                    batch = claims.claim(session, Channel.EMAIL, 7, lease_seconds=300)
                if not batch:
                    return
                taken[slot].extend(m.id for m in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    counts = Counter(m for batch in taken for m in batch)
    assert set(counts) == queued and set(counts.values()) == {1}
    assert sum(1 for batch in taken if batch) > 1, "the senders shared the work"


def test_a_lapsed_lease_is_claimed_again_and_the_late_sender_cannot_overwrite_it(database: Database) -> None:
    queued = _one(database)
    settings = NotifySettings(notify_lease_seconds=60)
    with database.session() as session:
        first = claims.claim(session, Channel.EMAIL, 1, lease_seconds=0.05)
    time.sleep(0.1)
    with database.session() as session:
        second = claims.claim(session, Channel.EMAIL, 1, lease_seconds=60)
    assert [m.id for m in first] == [m.id for m in second] == [queued] and first[0].claim != second[0].claim
    assert second[0].attempts == 2
    with database.session() as session:
        assert claims.settle(session, first[0], Sent("late"), settings) is None  # its claim is gone
        assert claims.settle(session, second[0], Retry("451 try later"), settings, random.Random(1)) == "queued"
        row = session.get(Message, second[0].id)
        assert row is not None and row.status == "queued" and row.provider_id is None
        assert row.last_error == "451 try later"


def test_the_last_allowed_attempt_makes_a_message_dead(database: Database) -> None:
    _one(database)
    settings = NotifySettings(notify_max_attempts=2, notify_lease_seconds=60)
    for expected in ("queued", "dead"):
        with database.session() as session:
            session.execute(Message.__table__.update().values(next_attempt_at=datetime.now(UTC)))
            session.commit()
            [message] = claims.claim(session, Channel.EMAIL, 1, lease_seconds=60)
        with database.session() as session:
            assert claims.settle(session, message, Retry("timeout"), settings) == expected
    with database.session() as session:
        dead = session.scalar(select(Message).where(Message.status == "dead"))
        assert dead is not None and "gave up" in (dead.last_error or "")


def test_backoff_doubles_within_jitter_up_to_the_cap() -> None:
    settings = NotifySettings(notify_backoff_seconds=2, notify_backoff_max_seconds=30)
    rng = random.Random(7)
    for attempts, ceiling in ((1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30)):
        waits = [claims.backoff(attempts, settings, rng) for _ in range(200)]
        assert ceiling / 2 <= min(waits) and max(waits) <= ceiling
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not one value


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 26, 8, 0, 0, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after("Thu, 26 Nov 2026 08:00:30 GMT", now) == 30.0
    assert retry_after("Thu, 26 Nov 2026 07:00:00 GMT", now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None
    assert retry_after("99999999") == 86400.0


def test_an_unknown_person_is_skipped_and_reported_not_queued(database: Database) -> None:
    with database.session() as session:
        made = people.create(session, None, PersonIn(number="2201000001", name="Siti"))
        queued = notify(session, topic="bookings", template="announcement",
                        context={"title": "t", "body": "b", "author": "a"}, dedupe_key="x",
                        people=[made.id, "no-such-person"])
        session.commit()
    assert queued.missing == ["no-such-person"] and queued.unreachable == [made.id] and queued.messages == 0
