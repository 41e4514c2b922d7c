"""Fixtures for the server's tests: every test runs on a real SQLite file and on the real PostgreSQL
at 127.0.0.1:5432 (a fresh database per session, dropped afterwards), with a clean schema per test."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from server.app import create_app
from server.auth import service as auth
from server.auth.roles import Role
from server.core import migrations
from server.core.database import Database
from server.core.settings import Settings
from server.notifications.settings import NotifySettings
from server.people import service as people
from server.people.schemas import Kind, PersonIn
from server.tables import metadata

POSTGRES_ADMIN = os.environ.get("LABGATE_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"
WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN = "test-app-secret", "test-verify-token"


def _postgres_admin() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                           connect_timeout=5)


def _server_url(database: str) -> str:
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{database}"


class Backends:
    """Make and drop scratch databases on one backend."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder, self.made = kind, folder, []  # type: ignore[var-annotated]

    def new(self) -> str:
        name = f"labgate_test_{uuid.uuid4().hex[:10]}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        with _postgres_admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return _server_url(name)

    def drop_all(self) -> None:
        if not self.made:
            return
        with _postgres_admin() as connection:
            for name in self.made:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backends(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    kind = request.param
    if kind == "postgresql":
        try:
            _postgres_admin().close()
        except Exception as exc:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN} is not reachable ({exc}); .ci/run starts it")
            pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN} is not reachable ({exc}); start it to run these tests")
    made = Backends(kind, tmp_path_factory.mktemp(f"db-{kind}"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def database_url(backends: Backends) -> str:
    url = backends.new()
    database = Database(url)
    migrations.upgrade(database)
    database.dispose()
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The session's migrated database, emptied for this test."""
    database = Database(database_url)
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    yield database
    database.dispose()


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "argon2_time_cost": 1, "argon2_memory_kib": 1024,
                              "argon2_parallelism": 1, **overrides}
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return test_settings(database_url, data_dir=tmp_path / "data")


@pytest.fixture
def notify_settings() -> NotifySettings:
    """The test app's notifications: WhatsApp's webhook answers (its secrets are the constants above);
    no channel sends (the notification tests start their own peers)."""
    return NotifySettings(whatsapp_app_secret=WHATSAPP_APP_SECRET, whatsapp_verify_token=WHATSAPP_VERIFY_TOKEN)


@pytest.fixture
def app(settings: Settings, database: Database, notify_settings: NotifySettings) -> FastAPI:
    return create_app(settings, database, notify_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@dataclass
class Person:
    id: str
    number: str
    headers: dict[str, str]


@pytest.fixture
def make_person(app: FastAPI, client: TestClient) -> Callable[..., Person]:
    """A person with roles and a password, signed in (in the first role) unless told otherwise."""
    counter = iter(range(10_000))

    def make(*roles: Role, number: str | None = None, name: str = "Test Person", login: bool = True,
             kind: Kind = Kind.STAFF) -> Person:
        number = number or f"1990{next(counter):06d}"
        with app.state.database.session() as session:
            person = people.create(session, None, PersonIn(number=number, name=name, kind=kind,
                                                           roles=list(roles or (Role.STUDENT,))))
            auth.set_password(session, app.state.auth_keys, None, person.id, PASSWORD)
        headers = signed_in(client, number, (roles or (Role.STUDENT,))[0]) if login else {}
        return Person(person.id, number, headers)

    return make


def signed_in(client: TestClient, number: str, role: Role | None = None) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"number": number, "password": PASSWORD,
                                                       "role": role.value if role else None})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    return make_person(Role.ADMIN, number="1970000001", name="Lab Admin")


@dataclass
class Kiosk:
    id: str
    token: str
    headers: dict[str, str]


@pytest.fixture
def kiosk(client: TestClient, admin: Person) -> Kiosk:
    response = client.post("/api/v1/devices", json={"name": "door LAB-1", "room": "LAB-1", "model_id": "test-model"},
                           headers=admin.headers)
    assert response.status_code == 201, response.text
    return activated(client, response.json())


def activated(client: TestClient, registered: dict[str, Any]) -> Kiosk:
    """A registered device once its kiosk exchanged the provisioning token for a device token it made."""
    device_id, token = registered["device"]["id"], "lgd_" + secrets.token_urlsafe(32)
    answer = client.post(f"/api/v1/devices/{device_id}:activate",
                         json={"provisioning_token": registered["provisioning_token"], "device_token": token})
    assert answer.status_code == 200, answer.text
    return Kiosk(device_id, token, {"Authorization": f"Bearer {token}"})


CLI = [str(Path(sys.executable).with_name("labgate-server"))]
ADMIN_PASSWORD = "a long admin password"


def run_cli(url: str, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_ARGON2_MEMORY_KIB": "1024",
           "LABGATE_ARGON2_TIME_COST": "1"}
    return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Served:
    """A real `labgate-server run` on loopback (default settings but faces off; no trusted proxies)
    with an admin 1970000001 whose password is ADMIN_PASSWORD."""

    base: str
    url: str
    pid: int
    log: Path


@pytest.fixture(scope="session")
def served(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = backends.new()
    assert run_cli(url, "migrate").returncode == 0
    made = run_cli(url, "create-admin", "--number", "1970000001", "--name", "Lab Admin", "--password-stdin",
                   stdin=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false"}
    env.pop("LABGATE_TRUSTED_PROXIES", None)
    log = tmp_path_factory.mktemp("served") / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen([*CLI, "run", "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT)
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
        yield Served(base, url, process.pid, log)
    finally:
        process.terminate()
        process.wait(timeout=15)
