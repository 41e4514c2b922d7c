"""Fixtures for the sync tests: a real server process on loopback (``labgate-server run``, or forked
by ``tests.sync.launcher`` where it is killed and restarted many times) on a scratch SQLite or
PostgreSQL database, an admin who registers devices through the API, real kiosk device stores, and
``labgate-sync`` as a process with a config of its own. Faults come from ``tests.sync.proxy``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests

from device.events import new_event
from device.store import Store
from sync import credentials as creds
from sync.config import SyncConfig
from sync.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN = os.environ.get("LABGATE_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
ADMIN_NUMBER, PASSWORD = "1970000001", "correct horse battery"
MODEL_ID = "test-model"
SERVER_ENV = {"LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning", "LABGATE_ARGON2_TIME_COST": "1",
              "LABGATE_ARGON2_MEMORY_KIB": "1024", "LABGATE_ARGON2_PARALLELISM": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- server databases ------------------------------------------------------------------------------
def _postgres_admin() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        try:
            _postgres_admin().close()
        except Exception as exc:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN} is not reachable ({exc})")
            pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN} is not reachable ({exc}); start it to run these tests")
    return str(request.param)


def scratch_database(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """(URL, drop) of a new, migrated database with an admin who has a password."""
    name = f"labgate_sync_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        url, drop = f"sqlite:///{folder / (name + '.db')}", (lambda: None)
    else:
        with _postgres_admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            with _postgres_admin() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    _seed(url)
    return url, drop


def _seed(url: str) -> None:
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
    settings = Settings(database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    keys = auth.Keys(settings, Passwords(settings), b"unused")
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number=ADMIN_NUMBER, name="Lab Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, keys, None, admin.id, PASSWORD)
    database.dispose()


@pytest.fixture
def server_db(backend: str, tmp_path: Path) -> Iterator[str]:
    url, drop = scratch_database(backend, tmp_path)
    yield url
    drop()


# -- the server ------------------------------------------------------------------------------------
class Api:
    """The server's API as an admin uses it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            answer = requests.post(f"{self.base}/api/v1/auth/login", json={"number": ADMIN_NUMBER,
                                                                          "password": PASSWORD}, timeout=30)
            assert answer.status_code == 200, answer.text
            self._headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._headers

    def call(self, method: str, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
        answer = requests.request(method, f"{self.base}/api/v1{path}", headers=self.headers, timeout=60, **kwargs)
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json() if answer.content else None

    def register_device(self, name: str = "door LAB-1", room: str = "LAB-1") -> dict[str, Any]:
        return dict(self.call("POST", "/devices", 201, json={"name": name, "room": room, "model_id": MODEL_ID}))


class LiveServer(Api):
    """``labgate-server run`` as a subprocess on a free loopback port."""

    def __init__(self, database_url: str, log: Path | None = None) -> None:
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.database_url = database_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        env = {**os.environ, **SERVER_ENV, "LABGATE_DATABASE_URL": self.database_url}
        err = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(self.port)],
                                        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        wait_healthy(self.base, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def wait_healthy(base: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server at {base} exited with {process.returncode}")
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server at {base} did not come up in {timeout:.0f} s")


class ForkedServer(Api):
    """Server processes forked by ``tests.sync.launcher`` on one port: ``kill()`` is SIGKILL,
    ``restart()`` a new process serving the same database."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        env = {**os.environ, **SERVER_ENV, "LABGATE_DATABASE_URL": database_url}
        self.launcher = subprocess.Popen([sys.executable, "-m", "tests.sync.launcher", str(self.port)], env=env,
                                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log.open("ab"), text=True)
        assert self.launcher.stdout is not None and self.launcher.stdout.readline().strip() == "ready"
        self.pid: int | None = None
        self.kills = 0

    def restart(self) -> None:
        assert self.launcher.stdin is not None and self.launcher.stdout is not None
        self.launcher.stdin.write("start\n")
        self.launcher.stdin.flush()
        self.pid = int(self.launcher.stdout.readline())
        wait_healthy(self.base)

    def kill(self, count: bool = True) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                self.kills += count
            except ProcessLookupError:
                pass
            self.pid = None

    def close(self) -> None:
        self.kill(count=False)
        if self.launcher.stdin is not None:
            self.launcher.stdin.close()
        self.launcher.kill()  # its children die with it (PR_SET_PDEATHSIG)
        self.launcher.wait(10)


@pytest.fixture
def server_log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture
def live_server(server_db: str, server_log: Path) -> Iterator[LiveServer]:
    server = LiveServer(server_db, server_log).start()
    yield server
    server.stop()


# -- the kiosk side --------------------------------------------------------------------------------
def fast_config(**overrides: Any) -> SyncConfig:
    """Sync settings for tests: big batches, short waits, short backoff."""
    values: dict[str, Any] = {"batch_size": 1000, "interval_s": 0.2, "pull_interval_s": 1.0, "timeout_s": 5.0,
                              "backoff_s": (0.05, 0.5), **overrides}
    return SyncConfig(**values)


def write_backlog(store: Store, count: int, start: float | None = None, spacing_s: float = 6.0) -> list[str]:
    """``count`` events as the kiosk records them (faces accepted and unknown, PINs, QR codes), one
    every ``spacing_s`` from ``start``, in one transaction; returns their ids in seq order."""
    start = time.time() - count * spacing_s if start is None else start
    events = []
    for i in range(count):
        at = start + i * spacing_s
        kind = i % 4
        if kind == 0:
            events.append(new_event(f"2201{i % 500:06d}", "accept", "face", at, score=0.71, margin=0.2,
                                    model_id=MODEL_ID))
        elif kind == 1:
            events.append(new_event(None, "unknown", "face", at, score=0.21, margin=0.01, model_id=MODEL_ID))
        else:
            events.append(new_event(f"2202{i % 300:06d}", "accept", "pin" if kind == 2 else "qr", at))
    with store.writing() as db:
        db.conn.executemany(
            "INSERT INTO events (id, person, outcome, method, score, margin, model_id, captured_at, clock_suspect)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.id, e.person, e.outcome, e.method, e.score, e.margin, e.model_id, e.captured_at,
              int(e.clock_suspect)) for e in events])
    return [e.id for e in events]


def credentials_for(server_url: str, device: dict[str, Any]) -> Credentials:
    """What a kiosk keeps from a device's provisioning code: the code, and a device token it made, waiting
    for the exchange (the runner's first step)."""
    return creds.check(server_url, device["device"]["id"], device["provisioning_token"])


def activated_for(server_url: str, device: dict[str, Any]) -> Credentials:
    """Credentials whose provisioning code was exchanged already, as after a kiosk's first cycle."""
    pending = credentials_for(server_url, device)
    answer = requests.post(f"{server_url}/api/v1/devices/{device['device']['id']}:activate", timeout=30,
                           json={"provisioning_token": pending.provisioning_token, "device_token": pending.token})
    assert answer.status_code == 200, answer.text
    return pending.activated()


@dataclass
class SyncProcess:
    """``labgate-sync run`` with a config file of its own (a kiosk that runs sync apart)."""

    config_path: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> SyncProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "sync.cli", "run", "--config", str(self.config_path)],
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def write_config(path: Path, store_path: Path, **sync: Any) -> Path:
    """A config.toml with [store] and [sync] only (labgate-sync reads no other table)."""
    lines = ["[store]", f'path = "{store_path}"', "", "[sync]"]
    for key, value in sync.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, str | Path):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, tuple | list):
            lines.append(f"{key} = [{', '.join(str(v) for v in value)}]")
        else:
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


# -- a camera ----------------------------------------------------------------------------------------
class ShownSource:
    """A camera looking at a grey wall, or at whatever the test holds up (a QR code)."""

    name, live, fps = "shown", False, 10.0

    def __init__(self) -> None:
        self.frame = np.full((360, 480, 3), 128, np.uint8)

    def show(self, text: str | None) -> None:
        wall = np.full((360, 480, 3), 128, np.uint8)
        if text:
            code = cv2.QRCodeEncoder.create().encode(text)
            code = cv2.resize(code, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
            h, w = code.shape[:2]
            wall[40:40 + h, 40:40 + w] = np.repeat(code[:, :, None], 3, axis=2)
        self.frame = wall

    def open(self) -> None:
        pass

    def read(self) -> np.ndarray:
        return self.frame.copy()

    def close(self) -> None:
        pass
