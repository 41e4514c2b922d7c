"""A real `labgate-server run` on loopback (SQLite file) with people in several roles, and Debian's
Chromium driven by Playwright (``executable_path``: Playwright never downloads a browser here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth import service as auth
from server.auth.roles import Role
from server.core import migrations
from server.core.clock import utcnow
from server.core.database import Database
from server.core.settings import Settings
from server.notifications import announcements, contacts
from server.notifications.schemas import AnnouncementIn, AudienceIn
from server.people import service as people
from server.people.schemas import Kind, PersonIn
from server.presence import attendance
from tests.server.conftest import CLI, free_port

PASSWORD = "correct horse battery"
FAST = {"LABGATE_ARGON2_MEMORY_KIB": "1024", "LABGATE_ARGON2_TIME_COST": "1", "LABGATE_ARGON2_PARALLELISM": "1"}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "web"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class Someone:
    id: str
    number: str
    name: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class Site:
    base: str
    url: str
    admin: Someone
    head: Someone  # head, lecturer and student: asked which role after signing in
    student: Someone
    other: Someone  # another student, whose data the first must never see
    technician: Someone


def _seed(url: str) -> dict[str, Someone]:
    database = Database(url)
    migrations.upgrade(database)
    settings = Settings(database_url=url, argon2_memory_kib=1024, argon2_time_cost=1, argon2_parallelism=1)
    from server.auth.passwords import Passwords
    from server.auth.service import Keys

    keys = Keys(settings, Passwords(settings), b"seed")
    made: dict[str, Someone] = {}
    specs = {
        "admin": ("1970000001", "Lab Admin", Kind.STAFF, (Role.ADMIN,)),
        "head": ("1970000002", "Dewi Kepala", Kind.STAFF, (Role.HEAD, Role.LECTURER, Role.STUDENT)),
        "student": ("2201000001", "Siti Rahma", Kind.STUDENT, (Role.STUDENT,)),
        "other": ("2201000002", "Budi Santoso", Kind.STUDENT, (Role.STUDENT,)),
        "technician": ("1970000003", "Teknisi Lab", Kind.STAFF, (Role.TECHNICIAN,)),
    }
    with database.session() as session:
        for key, (number, name, kind, roles) in specs.items():
            person = people.create(session, None, PersonIn(number=number, name=name, kind=kind, roles=list(roles)))
            auth.set_password(session, keys, None, person.id, PASSWORD)
            made[key] = Someone(person.id, number, name, roles)
            if kind is Kind.STAFF:  # staff read the pages in English, students in Indonesian (the default)
                contacts.set_contact(session, person.id, {"language": "en"})
        admin = made["admin"]
        from server.auth.actor import Actor

        acting = Actor(admin.id, admin.number, admin.name, Role.ADMIN.value, (Role.ADMIN.value,))
        yesterday = (utcnow() - timedelta(days=1)).astimezone(settings.zone).date()
        attendance.correct(session, acting, settings.zone, made["student"].id, yesterday, True,
                           "kiosk camera broken, seen by the assistant")
        attendance.correct(session, acting, settings.zone, made["other"].id, yesterday, False,
                           "Budi's private reason: hospital")
        announcements.post(session, acting, AnnouncementIn(
            title="Lab tutup Jumat", body="Perawatan AC sepanjang hari.", audience=AudienceIn(everyone=True)))
        announcements.post(session, acting, AnnouncementIn(
            title="Only for Budi", body="Your thesis draft is due.", audience=AudienceIn(people=[made["other"].id])))
    database.dispose()
    return made


# The served site lives for the whole session of one xdist worker, so whatever a test module writes into
# it (rooms, a crew of people, a vacancy) is a session fixture too: `--dist worksteal` may run a module's
# tests between other modules' on one worker, and a module fixture made again would find its rows there.
@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{folder / 'web.db'}"
    made = _seed(url)
    port = free_port()
    env = {**os.environ, **FAST, "LABGATE_DATABASE_URL": url, "LABGATE_FACES_ENABLED": "false"}
    env.pop("LABGATE_TRUSTED_PROXIES", None)
    log = folder / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen([*CLI, "run", "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded machine starts slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not come up: {log.read_text()}")
        yield Site(base, url, made["admin"], made["head"], made["student"], made["other"], made["technician"])
    finally:
        process.terminate()
        process.wait(timeout=15)
        assert "unhandled_error" not in log.read_text(), log.read_text()[-5000:]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make system` installs it")
        pytest.skip("chromium is not installed (make system installs it)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh browser context (no cookies) at phone width; console errors (a CSP refusal, a script
    error) fail the test."""
    context = browser.new_context(base_url=site.base, viewport={"width": 390, "height": 844}, locale="en-GB")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors
    yield opened
    context.close()
    assert not [e for e in errors if "status of 4" not in e], errors


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def sign_in(page: Any, number: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Number (NIM or NIP)").fill(number)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


# --- more people for one test module (tests/web/test_recruitment_pages.py) ---


def add_person(site: Site, number: str, name: str, kind: Kind, roles: tuple[Role, ...],
               language: str = "id") -> Someone:
    """One more person with the test password, written into the running server's database (a SQLite file
    it reads on every request), so a module's people are its own and other modules' stay as seeded."""
    from server.auth.passwords import Passwords
    from server.auth.service import Keys

    settings = Settings(database_url=site.url, argon2_memory_kib=1024, argon2_time_cost=1, argon2_parallelism=1)
    database = Database(site.url)
    with database.session() as session:
        person = people.create(session, None, PersonIn(number=number, name=name, kind=kind, roles=list(roles)))
        auth.set_password(session, Keys(settings, Passwords(settings), b"seed"), None, person.id, PASSWORD)
        contacts.set_contact(session, person.id, {"language": language})
        made = Someone(person.id, number, name, roles)
    database.dispose()
    return made
