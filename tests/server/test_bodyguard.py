"""Request bodies, whatever the method and the headers: counted and scanned as they stream in, never
held, refused as problems (413 over the limit, 422 for text no database can store), never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import Person

CHUNK = 64 * 1024
BIG = 20 * 1024 * 1024  # five times the 4 MB JSON limit


async def _drive(app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]],
                 size: int) -> tuple[int, int]:
    """Send ``size`` bytes of JSON-looking body in 64 KiB chunks as the app asks for them; (status,
    bytes the app took)."""
    taken = 0
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if taken >= size:
            await asyncio.sleep(3600)  # the client has nothing more; only a disconnect would come
        piece = b"[" + b" " * (CHUNK - 1) if taken == 0 else b" " * CHUNK
        taken += len(piece)
        return {"type": "http.request", "body": piece, "more_body": taken < size}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.setdefault("status", message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    await asyncio.wait_for(app(scope, receive, send), timeout=60)
    return answer["status"], taken


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT", "PATCH"])
@pytest.mark.parametrize("path", ["/health", "/api/v1/auth/login", "/api/v1/people/x"])
def test_a_chunked_body_is_never_read_past_its_limit_whatever_the_method(app: FastAPI, method: str,
                                                                           path: str) -> None:
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked"), (b"host", b"testserver")]
    status, taken = asyncio.run(_drive(app, method, path, headers, BIG))
    assert taken <= app.state.settings.request_max_bytes + CHUNK, (status, taken)
    assert status != 500


def test_an_oversized_json_login_is_413_after_at_most_the_limit(app: FastAPI) -> None:
    headers = [(b"content-type", b"Application/JSON"), (b"transfer-encoding", b"chunked")]
    status, taken = asyncio.run(_drive(app, "POST", "/api/v1/auth/login", headers, BIG))
    assert status == 413 and taken <= app.state.settings.request_max_bytes + CHUNK


@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS", "POST"])
def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(app: FastAPI, method: str) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(BIG).encode())]
    status, taken = asyncio.run(_drive(app, method, "/health", headers, BIG))
    assert (status, taken) == (413, 0)


@pytest.mark.parametrize("media", ["application/JSON", "Application/Json; charset=UTF-8", "APPLICATION/JSON",
                                   "application/problem+JSON", "text/plain", None])
def test_the_text_guard_holds_whatever_the_content_type(client: TestClient, admin: Person, media: str | None) -> None:
    """Media types are case-insensitive: any spelling that FastAPI reads as JSON is scanned too (on
    PostgreSQL a NUL in a login used to be a 500; on SQLite a person named with a NUL was stored)."""
    headers = {"Content-Type": media} if media else {}
    login = client.post("/api/v1/auth/login", content=b'{"number": "22\\u0000", "password": "x"}', headers=headers)
    assert login.status_code == 422, login.text
    made = client.post("/api/v1/people", content=b'{"number": "2201", "name": "A\\u0000B", "kind": "student"}',
                       headers={**admin.headers, **headers})
    assert made.status_code == 422, made.text
    lone = client.post("/api/v1/people", content=b'{"number": "2202", "name": "a\\uD800b", "kind": "student"}',
                       headers={**admin.headers, **headers})
    assert lone.status_code == 422, lone.text
    found = client.get("/api/v1/people", params={"q": "220"}, headers=admin.headers).json()
    assert found["total"] == 0


def test_a_surrogate_pair_split_between_chunks_is_not_taken_for_two_lone_halves() -> None:
    from server.core.textguard import Scanner

    text = json.dumps({"name": "Siti \U0001F600 " + "x" * 50}).encode()  # ASCII: \ud83d\ude00
    for cut in range(1, len(text)):
        scanner = Scanner()
        assert scanner.feed(text[:cut], final=False) is None, cut
        assert scanner.feed(text[cut:], final=True) is None, cut
    lone = json.dumps({"name": "a\ud800b" + "y" * 40}).encode()
    for cut in range(1, len(lone)):
        scanner = Scanner()
        found = scanner.feed(lone[:cut], final=False) or scanner.feed(lone[cut:], final=True)
        assert found is not None and "surrogate" in found, cut
    for size in (1, 3, 7):
        scanner = Scanner()
        pieces = [text[i:i + size] for i in range(0, len(text), size)]
        assert all(scanner.feed(p, final=i == len(pieces) - 1) is None for i, p in enumerate(pieces))


def test_a_nul_split_between_chunks_is_found() -> None:
    from server.core.textguard import Scanner

    body = b'{"note": "' + b"z" * 30 + b'\\u0000"}'
    for cut in range(1, len(body)):
        scanner = Scanner()
        found = scanner.feed(body[:cut], final=False) or scanner.feed(body[cut:], final=True)
        assert found is not None and "NUL" in found, cut
