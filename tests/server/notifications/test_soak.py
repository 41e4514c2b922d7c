"""Acceptance 3: kill -9 of the server while 1,000 messages are queued and being sent, five times over.
After the last restart every message has been sent and accepted by its peer, none is lost, and the
messages a peer accepted twice are at most those that were in flight (claimed, unsettled) at the kills.

The server processes are forked by ``tests.sync.launcher`` (the app ``labgate-server run`` serves,
imported once, so a restart costs a fork, not a Python start); each runs the sender in its lifespan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from server.core.database import Database
from server.notifications.kinds import Status, Topic
from server.notifications.outbox import notify
from server.notifications.tables import Message
from tests.server.notifications.conftest import Peers, free_port, wait_until

ROOT = Path(__file__).resolve().parents[3]
KILLS = 5
PEOPLE = {"email": 40, "push": 30, "whatsapp": 30}
ROUNDS = 10  # notifications to everyone: 100 people x 10 = 1,000 messages
LATENCY = 0.03  # each peer takes this long per message, so there is always something in flight


class Forked:
    """Server processes on one port, forked by the launcher; ``kill()`` is SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.launcher = subprocess.Popen([sys.executable, "-m", "tests.sync.launcher", str(self.port)], env=env,
                                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log.open("ab"), text=True)
        assert self.launcher.stdout is not None and self.launcher.stdout.readline().strip() == "ready"
        self.pid: int | None = None

    def start(self) -> None:
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        self.launcher.stdin.write("start\n")
        self.launcher.stdin.flush()
        self.pid = int(self.launcher.stdout.readline())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("the forked server did not come up")

    def kill(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)  # the launcher reaps it
            self.pid = None

    def close(self) -> None:
        self.kill()
        if self.launcher.stdin is not None:
            self.launcher.stdin.close()
        self.launcher.kill()
        self.launcher.wait(10)


@pytest.fixture
def forked(database: Database, peers: Peers, tmp_path: Path) -> Iterator[Forked]:
    settings = peers.settings(smtp_timeout=2.0, fcm_timeout=2.0, whatsapp_timeout=2.0, notify_lease_seconds=6.0,
                              notify_concurrency=8)
    env = {**os.environ, "LABGATE_DATABASE_URL": database.url.replace("postgresql+psycopg://", "postgresql://"),
           "LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning"}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"LABGATE_{name.upper()}"] = str(value.get_secret_value() if hasattr(value, "get_secret_value")
                                                 else value)
    server = Forked(env, tmp_path / "server.log")
    yield server
    server.close()


def test_kill_9_five_times_while_sending_loses_nothing_and_repeats_at_most_what_was_in_flight(
        database: Database, peers: Peers, forked: Forked, add_person: Callable[..., str]) -> None:
    peers.whatsapp.report_statuses = False  # statuses would only hit a server that is being killed
    for peer in (peers.smtp, peers.fcm, peers.whatsapp):
        peer.latency = LATENCY
    people: list[str] = []
    for n in range(PEOPLE["email"]):
        people.append(add_person(f"2201{n:06d}", email=f"student{n}@example.ac.id"))
    for n in range(PEOPLE["push"]):
        people.append(add_person(f"2202{n:06d}", tokens=(f"phone-{n:04d}",)))
    for n in range(PEOPLE["whatsapp"]):
        people.append(add_person(f"2203{n:06d}", whatsapp=f"+62813{n:07d}"))
    with database.session() as session:
        for n in range(ROUNDS):
            notify(session, topic=Topic.ANNOUNCEMENTS, template="announcement",
                   context={"title": f"Notice {n}", "body": "The lab opens at 07:30.", "author": "Lab"},
                   dedupe_key=f"soak:{n}", people=people)
        session.commit()
        total = session.scalar(select(func.count()).select_from(Message))
    assert total == 1000

    ledgers = (peers.smtp.ledger, peers.fcm.ledger, peers.whatsapp.ledger)

    def accepted() -> int:
        return sum(sum(ledger.accepted.values()) for ledger in ledgers)

    in_flight: list[int] = []
    killed_claims: set[tuple[str, str | None]] = set()
    started = time.monotonic()
    for _ in range(KILLS):
        forked.start()
        mark = accepted()
        wait_until(lambda mark=mark: accepted() >= mark + 100, timeout=60, what="100 more messages accepted")  # type: ignore[misc]
        forked.kill()
        with database.session() as session:  # claimed by the dead process, unsettled: possibly taken already
            claimed = {(row.id, row.claim) for row in session.execute(select(Message.id, Message.claim).where(
                Message.status == Status.SENDING.value))}
        in_flight.append(len(claimed - killed_claims))  # a claim an earlier kill left, still lapsing, counts once
        killed_claims |= claimed
    forked.start()

    def all_sent() -> bool:
        with database.session() as session:
            return session.scalar(select(func.count()).select_from(Message).where(
                Message.status == Status.SENT.value)) == total
    wait_until(all_sent, timeout=120, what="every message sent after the last restart")
    elapsed = time.monotonic() - started

    with database.session() as session:
        ids = set(session.scalars(select(Message.id)))
    never = [m for m in ids if not any(ledger.accepted[m] for ledger in ledgers)]
    duplicates = sum(ledger.duplicates() for ledger in ledgers)
    print(f"\nsoak ({database.dialect}): {total} messages, {KILLS} kills, in flight at the kills {in_flight} "
          f"(sum {sum(in_flight)}), accepted twice: {duplicates}, lost: {len(never)}, {elapsed:.1f} s")
    assert never == []
    assert duplicates <= sum(in_flight)
    assert all(ledger.lost.total() == 0 for ledger in ledgers)  # no peer fault here: duplicates come from kills
