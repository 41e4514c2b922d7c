"""What the server benchmarks share: scratch databases (an empty SQLite file or PostgreSQL database,
migrated, with an admin 1970000001 whose password is ``PASSWORD`` and ``people`` students) and a
real ``labgate-server run`` on a free loopback port. Never imported by tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark password"
ADMIN = "1970000001"


@contextmanager
def empty(kind: str, postgres: str) -> Iterator[str]:
    """The URL of an empty database, dropped (or deleted) on the way out."""
    name = f"labgate_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/{name}.db"
        return
    import psycopg

    admin_url = postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, people_count: int) -> None:
    """Migrate, then add the admin (with ``PASSWORD``) and ``people_count`` students."""
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
    settings = Settings(database_url=url)
    keys = auth.Keys(settings, Passwords(settings), b"unused")
    with database.session() as session:
        admin = people.create(session, None, PersonIn(number=ADMIN, name="Bench Admin", kind=Kind.STAFF,
                                                      roles=[Role.ADMIN]))
        auth.set_password(session, keys, None, admin.id, PASSWORD)
        for i in range(people_count):
            people.create(session, None, PersonIn(number=f"22010{i:05d}", name=f"Student {i}"))
    database.dispose()


@contextmanager
def scratch(kind: str, postgres: str, people_count: int) -> Iterator[str]:
    """``empty`` then ``seed``."""
    with empty(kind, postgres) as url:
        seed(url, people_count)
        yield url


def scratch_database(kind: str, postgres: str) -> tuple[str, Callable[[], None]]:
    """(URL, cleanup) of an empty database (``empty`` for callers that cannot use a ``with``)."""
    context = empty(kind, postgres)
    url = context.__enter__()

    def cleanup() -> None:
        context.__exit__(None, None, None)

    return url, cleanup


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """A `labgate-server run` on a free loopback port, up and answering /health; the caller stops it."""
    port = free_port()
    env = {**os.environ, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false", "LABGATE_LOG_LEVEL": "warning"}
    log = os.environ.get("BENCH_SERVER_LOG")  # a file for the server's log, when something goes wrong
    with Path(log).open("a") if log else nullcontext(None) as log_file:  # the server keeps its own copy
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "run", "--port", str(port), "--workers",
                                    str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=log_file or subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=30)
    raise RuntimeError(f"labgate-server did not start on {base}; set BENCH_SERVER_LOG=<file> to see its log")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def serving(url: str, workers: int) -> Iterator[str]:
    """``start``, then stop the server on the way out."""
    process, base = start(url, workers)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
