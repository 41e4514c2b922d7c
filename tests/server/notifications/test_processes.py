"""Real processes: ``labgate-server notify --once`` drains the outbox by hand; ``labgate-server run
--workers 2`` runs a sender in each worker that share one outbox (each message accepted once) and
serves /metrics whose request counters add up across the workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server.core.database import Database
from server.notifications.kinds import Topic
from server.notifications.outbox import notify
from server.notifications.settings import NotifySettings
from tests.server.notifications.conftest import Peers, free_port, outbox, settled, wait_until

CLI = str(Path(sys.executable).with_name("labgate-server"))


def _env(database: Database, settings: NotifySettings | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LABGATE_", "PROMETHEUS_"))}
    env.update(LABGATE_DATABASE_URL=database.url.replace("postgresql+psycopg://", "postgresql://"),
               LABGATE_FACES_ENABLED="false", LABGATE_LOG_LEVEL="warning")
    for name, value in (settings.model_dump() if settings else {}).items():
        if value is not None:
            env[f"LABGATE_{name.upper()}"] = str(value.get_secret_value() if hasattr(value, "get_secret_value")
                                                 else value)
    return env


def _queue(database: Database, people: list[str], rounds: int) -> None:
    with database.session() as session:
        for n in range(rounds):
            notify(session, topic=Topic.ATTENDANCE, template="announcement",
                   context={"title": f"Notice {n}", "body": "b", "author": "Lab"}, dedupe_key=f"p:{n}", people=people)
        session.commit()


def test_notify_once_sends_what_is_due_and_exits(database: Database, peers: Peers,
                                                 add_person: Callable[..., str]) -> None:
    people = [add_person(f"2201{n:06d}", email=f"s{n}@example.ac.id") for n in range(4)]
    _queue(database, people, 2)
    only_email = peers.settings(fcm_credentials=None, whatsapp_phone_number_id=None)
    done = subprocess.run([CLI, "notify", "--once"], env=_env(database, only_email), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "notifications: sent 8" in done.stdout
    assert "channel=push state='off: set LABGATE_FCM_CREDENTIALS" in done.stderr
    assert {m.status for m in outbox(database)} == {"sent"} and len(peers.smtp.received) == 8
    nothing = subprocess.run([CLI, "notify", "--once"], env=_env(database, None), capture_output=True, text=True,
                             timeout=120)
    assert nothing.returncode == 2 and "no notification channel is configured" in nothing.stderr


def test_two_worker_processes_share_the_outbox_and_their_metrics_add_up(
        database: Database, peers: Peers, add_person: Callable[..., str], tmp_path: Path) -> None:
    people = [add_person(f"2201{n:06d}", email=f"s{n}@example.ac.id", tokens=(f"phone-{n}",)) for n in range(20)]
    peers.smtp.latency = peers.fcm.latency = 0.01
    port = free_port()
    env = _env(database, peers.settings(whatsapp_phone_number_id=None, notify_concurrency=4))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    server = subprocess.Popen([CLI, "run", "--port", str(port), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(base), timeout=60, what="the two workers starting")
        _queue(database, people, 5)  # 200 messages for two senders
        requests = 60
        fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each time: either worker may take it
        with httpx.Client(base_url=base, timeout=30, limits=fresh) as client:
            before = _settled_health_count(client)  # the start-up probes (some may have timed out)
            for _ in range(requests):
                assert client.get("/health").status_code == 200
            wait_until(lambda: settled(database), timeout=120, what="the outbox drained by the two workers")
            counts = {_health_count(client.get("/metrics").text) for _ in range(6)}  # whichever worker answers
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert counts == {before + requests}, f"/health counted {counts}, wanted {before} + {requests} (requests spread " \
                                          f"over two workers); {errors[-2000:]}"
    writers = {p.name.rsplit("_", 1)[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
    assert len(writers) == 2, f"both workers served requests: {writers}"
    rows = outbox(database)
    assert len(rows) == 200 and {r.status for r in rows} == {"sent"}
    for ledger in (peers.smtp.ledger, peers.fcm.ledger):
        assert ledger.exactly_once_apart_from_lost({r.id for r in rows if r.id in ledger.accepted}) == {}
        assert ledger.duplicates() == 0
    assert peers.fcm.exchanges <= 2  # one token per process at most


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _settled_health_count(client: httpx.Client) -> int:
    """The start-up probes' count once it stops moving: a probe is counted after its response is sent, so the
    one that said the server is up may not be counted yet, and one the client gave up on may finish late."""
    seen: list[int] = []

    def steady() -> bool:
        seen.append(_health_count(client.get("/metrics").text))
        if len(seen) >= 2 and seen[-1] == seen[-2] >= 1:
            return True
        time.sleep(0.5)
        return False

    wait_until(steady, timeout=30, what="the start-up probes counted")
    return seen[-1]


def _health_count(text: str) -> int:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "labgate_http_requests_total" and sample.labels.get("route") == "/health" and \
                    sample.labels.get("status") == "200":
                return int(sample.value)
    return 0


