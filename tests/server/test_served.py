"""A real `labgate-server run` on loopback, probed as an attacker would (bounded, loopback only): bodies
are never held in memory, parallel wrong logins get five checks, X-Forwarded-For from an untrusted
client is ignored, every response carries the security headers and none names the server."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import ADMIN_PASSWORD, Served

PASSWORD = ADMIN_PASSWORD


@dataclass(frozen=True)
class Live:
    base: str
    pid: int
    admin: dict[str, str]


@pytest.fixture
def live(served: Served) -> Live:
    tokens = httpx.post(f"{served.base}/api/v1/auth/login",
                        json={"number": "1970000001", "password": ADMIN_PASSWORD}).json()
    return Live(served.base, served.pid, {"Authorization": f"Bearer {tokens['access_token']}"})


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) / 1024


def _chunked(base: str, method: str, path: str, megabytes: int) -> int:
    """Send a chunked JSON-typed body of ``megabytes`` over a raw socket, as fast as the server takes it;
    the status line's code (0 if the server closed without one)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        piece = b"[" + b" " * ((1 << 20) - 1)
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        try:
            for _ in range(megabytes):
                sock.sendall(frame)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest of the body is not wanted
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    found = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(found.group(1)) if found else 0


def test_a_big_chunked_body_is_never_held_whatever_the_method(live: Live) -> None:
    before = _rss_mb(live.pid)
    statuses = {method: _chunked(live.base, method, path, 64) for method, path in (
        ("GET", "/health"), ("DELETE", "/api/v1/people/x"), ("OPTIONS", "/health"), ("POST", "/api/v1/auth/login"))}
    grown = _rss_mb(live.pid) - before
    assert grown < 40, f"the server grew {grown:.0f} MB on 4 x 64 MB bodies ({statuses})"
    assert statuses["POST"] == 413 and 500 not in statuses.values(), statuses
    assert httpx.get(f"{live.base}/health").status_code == 200


def test_thirty_simultaneous_wrong_logins_get_five_checks(live: Live) -> None:
    made = httpx.post(f"{live.base}/api/v1/people", json={"number": "2201999001", "name": "Siti", "kind": "student"},
                      headers=live.admin)
    assert made.status_code == 201, made.text
    httpx.put(f"{live.base}/api/v1/people/{made.json()['id']}/password", json={"password": "the right password"},
              headers=live.admin).raise_for_status()
    start = threading.Barrier(30)

    def guess(_: int) -> int:
        with httpx.Client(timeout=60) as client:
            start.wait()
            return client.post(f"{live.base}/api/v1/auth/login",
                               json={"number": "2201999001", "password": "a wrong guess"}).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = Counter(pool.map(guess, range(30)))
    assert statuses == Counter({401: 5, 429: 25}), statuses
    right = httpx.post(f"{live.base}/api/v1/auth/login", json={"number": "2201999001",
                                                                "password": "the right password"})
    assert right.status_code == 429


def test_one_kiosk_activating_twice_at_once_gets_two_yeses_and_a_stranger_none(live: Live) -> None:
    """The kiosk's sync thread and `labgate-sync provision` can send the same exchange at the same
    moment (CI once saw the second told "used a moment ago"); a stranger racing them still loses."""
    for round_ in range(8):
        device = httpx.post(f"{live.base}/api/v1/devices", json={"name": f"door race {round_}", "room": "LAB-9"},
                            headers=live.admin)
        assert device.status_code == 201, device.text
        device_id, code = device.json()["device"]["id"], device.json()["provisioning_token"]
        kiosk, stranger = "lgd_" + secrets.token_urlsafe(32), "lgd_" + secrets.token_urlsafe(32)
        senders = [kiosk] * 6 + [stranger] * 2
        start = threading.Barrier(len(senders))

        def send(token: str, device_id: str = device_id, code: str = code,
                 start: threading.Barrier = start) -> tuple[str, int]:
            with httpx.Client(timeout=60) as client:
                start.wait()
                answer = client.post(f"{live.base}/api/v1/devices/{device_id}:activate",
                                     json={"provisioning_token": code, "device_token": token})
                return token, answer.status_code

        with ThreadPoolExecutor(len(senders)) as pool:
            answers = list(pool.map(send, senders))
        winners = {token for token, status in answers if status == 200}
        assert len(winners) == 1, answers
        assert all(status == (200 if token in winners else 409) for token, status in answers), answers
        for token in (kiosk, stranger):
            changes = httpx.get(f"{live.base}/api/v1/devices/{device_id}/changes",
                                headers={"Authorization": f"Bearer {token}"})
            assert changes.status_code == (200 if token in winners else 401), (token in winners, changes.text)


def test_the_served_app_starts_with_its_heap_frozen_out_of_full_collections(served: Served) -> None:
    """`labgate-server run` serves ``served_app``: what start-up built (routes, models, schemas, modules)
    is frozen, so the garbage collector's full collections walk only what requests make, not the whole
    start-up heap (which took a 100 ms pause each, the long tail of a signed-in GET)."""
    probe = ("import gc, json; from server.app import served_app; served_app(); "
             "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects())]))")
    env = {**os.environ, "LABGATE_DATABASE_URL": served.url, "LABGATE_FACES_ENABLED": "false",
           "LABGATE_LOG_LEVEL": "warning"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, walked = json.loads(done.stdout.strip().splitlines()[-1])
    assert frozen > 50_000 and walked * 10 < frozen, (frozen, walked)


def test_forwarded_for_from_an_untrusted_client_is_ignored(live: Live) -> None:
    device = httpx.post(f"{live.base}/api/v1/devices", json={"name": "door", "room": "LAB-2", "model_id": "m"},
                        headers=live.admin).json()
    activated = httpx.post(f"{live.base}/api/v1/devices/{device['device']['id']}:activate",
                           json={"provisioning_token": device["provisioning_token"], "device_token": "k" * 43},
                           headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert activated.status_code == 200, activated.text
    seen = httpx.get(f"{live.base}/api/v1/devices/{device['device']['id']}", headers=live.admin).json()
    assert seen["activated_from"] == "127.0.0.1"


def test_every_response_carries_security_headers_and_none_names_the_server(live: Live) -> None:
    answers = {
        "health": httpx.get(f"{live.base}/health"),
        "unauthenticated": httpx.get(f"{live.base}/api/v1/me"),
        "not found": httpx.get(f"{live.base}/nothing"),
        "openapi": httpx.get(f"{live.base}/openapi.json"),
        "docs": httpx.get(f"{live.base}/docs"),
        "too large": httpx.post(f"{live.base}/api/v1/auth/login", content=b"x" * 5_000_000,
                                headers={"Content-Type": "application/json"}),
        "login": httpx.post(f"{live.base}/api/v1/auth/login", json={"number": "1970000001", "password": PASSWORD}),
    }
    for name, answer in answers.items():
        assert "server" not in answer.headers, name
        assert answer.headers.get("x-content-type-options") == "nosniff", name
        assert "frame-ancestors 'none'" in answer.headers.get("content-security-policy", ""), name
    assert answers["login"].headers["cache-control"] == "no-store"
    assert answers["too large"].status_code == 413


def test_the_docs_page_loads_swagger_ui_from_this_server(live: Live) -> None:
    page = httpx.get(f"{live.base}/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"https?://", page.text), "the page names no other host (no CDN)"
    assert "<script>" not in page.text.replace(" ", ""), "no inline script, so the policy can forbid them"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        asset = httpx.get(f"{live.base}{src}")
        assert asset.status_code == 200 and len(asset.content) > 100, src
    bundle = httpx.get(f"{live.base}/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert b"SwaggerUIBundle" in bundle.content


def test_swagger_ui_draws_the_operations_in_chromium_under_its_policy(live: Live) -> None:
    """The page really works in a browser with its content security policy and no internet: the
    operations are drawn from /openapi.json by scripts served here."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make system` installs it")
        pytest.skip("chromium is not installed (make system installs it)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", f"{live.base}/docs"], capture_output=True, text=True, timeout=120).stdout
    assert 'data-path="/api/v1/people"' in dom and 'data-path="/api/v1/auth/login"' in dom, dom[-2000:]
