"""Fixtures for the notification tests: the three local peers, a real server (uvicorn on loopback, in
a thread of the test, the app's lifespan running its sender) configured to send through them, and
people with contacts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from server.app import create_app
from server.auth import service as auth
from server.auth.passwords import Passwords
from server.auth.roles import Role
from server.auth.service import Keys
from server.core.database import Database
from server.core.settings import Settings
from server.notifications import contacts
from server.notifications.kinds import Language, Status
from server.notifications.settings import NotifySettings
from server.notifications.tables import Message
from server.people import service as people
from server.people.schemas import Kind, PersonIn
from tests.peers.faults import Faults
from tests.peers.fcm import FcmPeer
from tests.peers.smtp import SmtpPeer
from tests.peers.whatsapp import WhatsAppPeer
from tests.server.conftest import PASSWORD, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN

TIMEOUT = 3.0  # every channel's timeout here; a hanging peer holds its answer for HANG seconds
HANG = 7.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Peers:
    smtp: SmtpPeer
    fcm: FcmPeer
    whatsapp: WhatsAppPeer
    key_file: Path

    def settings(self, **overrides: Any) -> NotifySettings:
        """Settings that send through all three peers, fast: short timeouts, backoff and polling."""
        values: dict[str, Any] = {
            **self.smtp.settings(), "smtp_timeout": TIMEOUT,
            "fcm_credentials": self.key_file, "fcm_base_url": self.fcm.url, "fcm_timeout": TIMEOUT,
            "whatsapp_base_url": self.whatsapp.base_url, "whatsapp_phone_number_id": self.whatsapp.phone_number_id,
            "whatsapp_access_token": self.whatsapp.access_token, "whatsapp_app_secret": WHATSAPP_APP_SECRET,
            "whatsapp_verify_token": WHATSAPP_VERIFY_TOKEN, "whatsapp_timeout": TIMEOUT,
            "notify_backoff_seconds": 0.1, "notify_backoff_max_seconds": 0.5, "notify_poll_seconds": 0.05,
            "notify_lease_seconds": 6 * TIMEOUT, "notify_max_attempts": 20, **overrides}
        return NotifySettings(**values)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    smtp = SmtpPeer(tmp_path, faults=Faults(hang_seconds=HANG)).start()
    fcm = FcmPeer(faults=Faults(hang_seconds=HANG)).start()
    whatsapp = WhatsAppPeer(WHATSAPP_APP_SECRET, faults=Faults(hang_seconds=HANG)).start()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(fcm.key))
    try:
        yield Peers(smtp, fcm, whatsapp, key_file)
    finally:
        whatsapp.stop()
        fcm.stop()
        smtp.stop()


class Live:
    """The app served by uvicorn on a loopback port, in a thread; its lifespan runs the sender."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def login(self, number: str, role: Role | None = None) -> dict[str, str]:
        answer = self.http.post("/api/v1/auth/login", json={"number": number, "password": PASSWORD,
                                                            "role": role.value if role else None})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def live(settings: Settings, database: Database, peers: Peers) -> Iterator[Callable[..., Live]]:
    """Start a real server sending through the peers (settings overridable); stopped after the test."""
    started: list[Live] = []

    def start(**overrides: Any) -> Live:
        server = Live(create_app(settings, database, peers.settings(**overrides))).start()
        peers.whatsapp.webhook_url = f"{server.url}/api/v1/notifications/whatsapp/webhook"
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def add_person(settings: Settings, database: Database) -> Callable[..., str]:
    """Make a person with a password (PASSWORD), contact details and push tokens; returns the id."""
    keys = Keys(settings, Passwords(settings), b"not used: no token is signed here")

    def add(number: str, *roles: Role, email: str | None = None, whatsapp: str | None = None,
            language: Language = Language.ID, tokens: tuple[str, ...] = (), name: str | None = None) -> str:
        with database.session() as session:
            person = people.create(session, None, PersonIn(number=number, name=name or f"Person {number}",
                                                           kind=Kind.STAFF, roles=list(roles or (Role.STUDENT,))))
            auth.set_password(session, keys, None, person.id, PASSWORD)
            contacts.set_contact(session, person.id, {"email": email, "whatsapp": whatsapp, "language": language})
            for token in tokens:
                contacts.register_token(session, person.id, token, "android")
            return person.id

    return add


def outbox(database: Database) -> list[Message]:
    with database.session() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def settled(database: Database) -> bool:
    """No message is queued or being sent."""
    return all(m.status not in (Status.QUEUED.value, Status.SENDING.value) for m in outbox(database))
