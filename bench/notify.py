"""Notifications: messages per second through each local peer (SMTP relay, FCM, WhatsApp Cloud API)
with one and with two server processes, beside the adapter alone (no outbox, no database: the
peer's and adapter's own ceiling); and the p50/p95 of an ordinary authenticated GET while 10,000
messages drain, beside the same GET on an idle server.

    .venv/bin/python bench/notify.py [--messages 2000] [--drain 10000] [--gets 300]
                                     [--backends postgresql,sqlite] [--postgres postgresql://root@127.0.0.1/test]

The peers run in this process (threads, loopback) and the servers are real `labgate-server run`
processes on the same machine: they share its CPU, so the rates are a floor. The peers answer at
once; WhatsApp's delivery webhooks are off (they would add three requests per message to the
server). Prints a table; never imported by tests; never gates CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, insert, select  # noqa: E402

from bench.benchdb import free_port, scratch_database  # noqa: E402
from server.auth import service as auth  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.roles import Role  # noqa: E402
from server.core import migrations  # noqa: E402
from server.core.database import Database  # noqa: E402
from server.core.ids import new_id  # noqa: E402
from server.core.settings import Settings  # noqa: E402
from server.notifications.channels.base import Outgoing, Sent  # noqa: E402
from server.notifications.kinds import Channel, Status, Topic  # noqa: E402
from server.notifications.outbox import notify  # noqa: E402
from server.notifications.runner import adapters  # noqa: E402
from server.notifications.settings import NotifySettings  # noqa: E402
from server.notifications.tables import Contact, Message, PushToken  # noqa: E402
from server.people import service as people  # noqa: E402
from server.people.schemas import Kind, PersonIn  # noqa: E402
from server.people.tables import Person, PersonRole  # noqa: E402
from tests.peers.fcm import FcmPeer  # noqa: E402
from tests.peers.smtp import SmtpPeer  # noqa: E402
from tests.peers.whatsapp import WhatsAppPeer  # noqa: E402

PASSWORD = "benchmark password"
ADMIN = "1970000001"
RECIPIENTS = 500  # people, each with an email, a phone (push) and a WhatsApp number


class Peers:
    def __init__(self, folder: Path) -> None:
        self.smtp = SmtpPeer(folder).start()
        self.fcm = FcmPeer().start()
        self.whatsapp = WhatsAppPeer("bench-app-secret", report_statuses=False).start()
        self.key_file = folder / "service-account.json"
        self.key_file.write_text(json.dumps(self.fcm.key))

    def settings(self, channels: set[Channel]) -> dict[str, Any]:
        values: dict[str, Any] = {"notify_poll_seconds": 0.2}
        if Channel.EMAIL in channels:
            values.update(self.smtp.settings())
        if Channel.PUSH in channels:
            values.update(fcm_credentials=self.key_file, fcm_base_url=self.fcm.url)
        if Channel.WHATSAPP in channels:
            values.update(whatsapp_base_url=self.whatsapp.base_url, whatsapp_access_token=self.whatsapp.access_token,
                          whatsapp_phone_number_id=self.whatsapp.phone_number_id)
        return values

    def stop(self) -> None:
        for peer in (self.whatsapp, self.fcm, self.smtp):
            peer.stop()


def seed(url: str) -> tuple[Database, str]:
    """Migrate, add the admin (with a password) and RECIPIENTS people with every address; (database, a person id)."""
    database = Database(url)
    migrations.upgrade(database)
    settings = Settings(database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number=ADMIN, name="Bench Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, auth.Keys(settings, Passwords(settings), b"unused"), None, admin.id, PASSWORD)
        now = datetime.now(UTC)
        ids = [new_id() for _ in range(RECIPIENTS)]
        session.execute(insert(Person), [{"id": pid, "number": f"22010{n:05d}", "name": f"Student {n}",
                                          "kind": "student", "active": True, "pin_hash": None, "version": 1,
                                          "created_at": now, "updated_at": now} for n, pid in enumerate(ids)])
        session.execute(insert(PersonRole), [{"person_id": pid, "role": "student"} for pid in ids])
        session.execute(insert(Contact), [{"person_id": pid, "email": f"student{n}@example.ac.id",
                                           "whatsapp": f"+62812{n:07d}", "language": "id" if n % 2 else "en",
                                           "whatsapp_inbound_at": None, "updated_at": now}
                                          for n, pid in enumerate(ids)])
        session.execute(insert(PushToken), [{"id": new_id(), "person_id": pid, "token": f"bench-phone-{n:05d}",
                                             "platform": "android", "created_at": now, "seen_at": now}
                                            for n, pid in enumerate(ids)])
        session.commit()
    return database, ids[0]


def queue(database: Database, count: int, channels: set[Channel], tag: str) -> float:
    """Queue ``count`` messages on ``channels`` (everyone's preferences narrowed to them); the commit time."""
    with database.session() as session:
        recipients = list(session.scalars(select(Person.id).where(Person.number.like("22010%"))))
        per_round = len(recipients) * len(channels)
        rounds = -(-count // per_round)
        for n in range(rounds):
            notify(session, topic=Topic.ANNOUNCEMENTS, template="announcement",
                   context={"title": f"Bench {tag} {n}", "body": "The lab opens at 07:30.", "author": "Bench"},
                   dedupe_key=f"bench:{tag}:{n}", people=recipients)
        off = {c.value for c in Channel} - {c.value for c in channels}
        ours = Message.notification_key.like(f"bench:{tag}:%")
        session.execute(delete(Message).where(ours, Message.channel.in_(off)))
        extra = select(Message.id).where(ours).order_by(Message.id).offset(count).scalar_subquery()
        session.execute(delete(Message).where(Message.id.in_(extra)))  # exactly ``count``
        session.commit()
        return time.monotonic()


def sent_count(database: Database, tag: str) -> tuple[int, int]:
    with database.session() as session:
        total = session.scalar(select(func.count()).select_from(Message).where(
            Message.notification_key.like(f"bench:{tag}:%"))) or 0
        sent = session.scalar(select(func.count()).select_from(Message).where(
            Message.notification_key.like(f"bench:{tag}:%"), Message.status == Status.SENT.value)) or 0
    return sent, total


def drained(database: Database, tag: str, since: float, timeout: float = 900) -> float:
    """Seconds from ``since`` until every message of ``tag`` is sent."""
    while time.monotonic() - since < timeout:
        sent, total = sent_count(database, tag)
        if sent == total:
            return time.monotonic() - since
        time.sleep(0.05)
    raise RuntimeError(f"{tag}: not drained within {timeout} s ({sent_count(database, tag)})")


@contextmanager
def serving(url: str, workers: int, notify_settings: dict[str, Any]) -> Iterator[str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LABGATE_")}
    env.update(LABGATE_DATABASE_URL=url, LABGATE_FACES_ENABLED="false", LABGATE_LOG_LEVEL="warning")
    for name, value in notify_settings.items():
        env[f"LABGATE_{name.upper()}"] = str(value)
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(port), "--workers",
                                str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"labgate-server did not start on {base}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def adapter_alone(peers: Peers, channel: Channel, count: int) -> float:
    """Messages per second through the adapter with the sender's concurrency, no database at all."""
    settings = NotifySettings(**peers.settings({channel}))
    adapter = adapters(settings)[channel]
    address = {Channel.EMAIL: "student1@example.ac.id", Channel.PUSH: "bench-phone-00001",
               Channel.WHATSAPP: "+6281200000001"}[channel]

    async def run() -> float:
        gate = asyncio.Semaphore(settings.notify_concurrency)

        async def one(n: int) -> None:
            async with gate:
                outcome = await adapter.send(Outgoing(
                    id=f"alone-{channel.value}-{n}", claim="-", channel=channel, person_id="-", address=address,
                    language="id", topic="announcements", template="announcement", subject="Bench", text="Bench\n",
                    html="<p>Bench</p>", short="Bench", attempts=1))
                assert isinstance(outcome, Sent), outcome

        started = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(count)))
        elapsed = time.monotonic() - started
        await adapter.aclose()
        return count / elapsed

    return asyncio.run(run())


def latencies(base: str, person_id: str, count: int, until: Any = None) -> list[float]:
    """Milliseconds of GET /api/v1/people/{id} (signed in), one after another; stop early when ``until()``."""
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/api/v1/auth/login", json={"number": ADMIN, "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        found: list[float] = []
        for n in range(count):
            started = time.perf_counter()
            answer = client.get(f"/api/v1/people/{person_id}", headers=headers)
            found.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
            if until is not None and n % 20 == 0 and until():
                break
        return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench(kind: str, postgres: str, messages: int, drain_count: int, gets: int, folder: Path) -> None:
    url, cleanup = scratch_database(kind, postgres)
    peers = Peers(folder / kind)
    try:
        database, person_id = seed(url)
        print(f"\n## {kind}: messages per second through each peer ({messages} per run)\n")
        print("| channel | adapter alone (no database) | 1 server process | 2 server processes |")
        print("|---|---|---|---|")
        for channel in Channel:
            alone = adapter_alone(peers, channel, messages)
            rates = []
            for workers in (1, 2):
                with serving(url, workers, peers.settings({channel})):
                    tag = f"{channel.value}-{workers}"
                    since = queue(database, messages, {channel}, tag)
                    rates.append(sent_count(database, tag)[1] / drained(database, tag, since))
            print(f"| {channel.value} | {alone:.0f} | {rates[0]:.0f} | {rates[1]:.0f} |", flush=True)

        print(f"\n## {kind}: GET /api/v1/people/{{id}} (signed in), one process, every channel on\n")
        with serving(url, 1, peers.settings(set(Channel))) as base:
            latencies(base, person_id, 20)  # warm up
            idle = latencies(base, person_id, gets)
            since = queue(database, drain_count, set(Channel), "drain")
            busy = latencies(base, person_id, 100_000, until=lambda: sent_count(database, "drain")[0]
                             == sent_count(database, "drain")[1])
            took = drained(database, "drain", since)
        total = sent_count(database, "drain")[1]
        print("| server | requests | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        print(f"| idle (reference) | {len(idle)} | {statistics.median(idle):.1f} | {percentile(idle, 0.95):.1f} |")
        print(f"| while {total} messages drain ({took:.0f} s, {total / took:.0f} msg/s) | {len(busy)} | "
              f"{statistics.median(busy):.1f} | {percentile(busy, 0.95):.1f} |", flush=True)
        database.dispose()
    finally:
        peers.stop()
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--drain", type=int, default=10_000, help="messages draining during the latency run")
    parser.add_argument("--gets", type=int, default=300, help="GETs on the idle server")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"# bench/notify.py ({os.cpu_count()} cores; peers and servers share them)")
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.backends.split(","):
            (Path(folder) / kind).mkdir()
            bench(kind, args.postgres, args.messages, args.drain, args.gets, Path(folder))


if __name__ == "__main__":
    main()
