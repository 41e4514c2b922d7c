"""Acceptance 2: each peer, for a while, answers 500 (SMTP: 451), answers 429 with Retry-After (SMTP:
421), drops the connection, and hangs past the timeout; once it recovers every message has been
accepted exactly once, except those it accepted while its answer was lost (counted; at most the
messages in flight). Permanent errors fail at once, with no retry; FCM's unregistered token is deleted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from server.core.database import Database
from server.notifications.kinds import Topic
from server.notifications.outbox import notify
from server.notifications.tables import PushToken
from tests.peers.faults import Ledger
from tests.server.notifications.conftest import Live, Peers, outbox, settled, wait_until

MESSAGES = 30
CONCURRENCY = 4
FAULTS = (("500", 4), ("429", 2), ("drop", 4), ("hang", 3))


def _address(channel: str, n: int) -> dict[str, object]:
    if channel == "email":
        return {"email": f"student{n}@example.ac.id"}
    if channel == "push":
        return {"tokens": (f"phone-token-{n:04d}",)}
    return {"whatsapp": f"+62812{n:07d}"}


def _refuse(peers: Peers, channel: str) -> dict[str, object]:
    """An address the peer refuses for good, and the person's contact for it."""
    if channel == "email":
        peers.smtp.refused.add("left-the-university@example.ac.id")
        return {"email": "left-the-university@example.ac.id"}
    if channel == "push":
        peers.fcm.unregistered.add("uninstalled-app-token")
        return {"tokens": ("uninstalled-app-token",)}
    peers.whatsapp.undeliverable.add("6281299990000")
    return {"whatsapp": "+6281299990000"}


def _ledger(peers: Peers, channel: str) -> Ledger:
    return {"email": peers.smtp.ledger, "push": peers.fcm.ledger, "whatsapp": peers.whatsapp.ledger}[channel]


def _queue(database: Database, people: list[str], key: str = "faults") -> None:
    with database.session() as session:
        notify(session, topic=Topic.BOOKINGS, template="announcement",
               context={"title": "Booking approved", "body": "LAB-1, Monday 08:00", "author": "Lab"},
               dedupe_key=key, people=people)
        session.commit()


@pytest.mark.parametrize("channel", ["email", "push", "whatsapp"])
def test_after_a_peers_faults_every_message_is_accepted_once_apart_from_lost_answers(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str],
        channel: str) -> None:
    people = [add_person(f"22010{n:05d}", **_address(channel, n)) for n in range(MESSAGES)]
    refused = add_person("2209999999", **_refuse(peers, channel))
    faults = {"email": peers.smtp.faults, "push": peers.fcm.faults, "whatsapp": peers.whatsapp.faults}[channel]
    faults.plan(*FAULTS)
    _queue(database, [*people, refused])
    live(notify_concurrency=CONCURRENCY)
    wait_until(lambda: settled(database), timeout=120, what="the outbox settling")
    rows = outbox(database)
    ledger = _ledger(peers, channel)
    assert faults.pending == 0, "every scripted fault was played"
    failed = [r for r in rows if r.status != "sent"]
    assert [(r.person_id, r.status, r.attempts) for r in failed] == [(refused, "failed", 1)]
    if channel == "push":  # FCM said UNREGISTERED: the token is gone, the others stay
        with database.session() as session:
            tokens = set(session.scalars(select(PushToken.token)))
        assert "uninstalled-app-token" not in tokens and len(tokens) == MESSAGES
    sent = {r.id for r in rows if r.status == "sent"}
    assert len(sent) == MESSAGES
    assert ledger.exactly_once_apart_from_lost(sent) == {}
    lost = sum(ledger.lost.values())
    assert 1 <= lost <= dict(FAULTS)["hang"] <= CONCURRENCY  # answers lost: at most the messages in flight
    assert ledger.duplicates() == lost
    assert sum(r.attempts for r in rows) >= MESSAGES + sum(count for _, count in FAULTS) - 4  # retried, not lost
    print(f"{channel}: {MESSAGES} messages, {lost} accepted twice after a lost answer, "
          f"{sum(r.attempts for r in rows)} attempts")


@pytest.mark.parametrize("channel", ["push", "whatsapp"])
def test_a_429_with_retry_after_rests_the_channel_that_long(
        database: Database, peers: Peers, live: Callable[..., Live], add_person: Callable[..., str],
        channel: str) -> None:
    people = [add_person(f"22010{n:05d}", **_address(channel, n)) for n in range(3)]
    faults = peers.fcm.faults if channel == "push" else peers.whatsapp.faults
    faults.retry_after = 2
    faults.plan(("429", 1))
    _queue(database, people)
    live(notify_concurrency=1)
    wait_until(lambda: settled(database), timeout=60, what="the outbox settling")
    ledger = _ledger(peers, channel)
    [gap] = ledger.earliest_after_throttle()
    assert gap >= 1.95, f"the next request came {gap:.2f} s after a 429 with Retry-After: 2"
    assert {r.status for r in outbox(database)} == {"sent"}
