"""Refuse text no database can store, with a 4xx: NUL characters (U+0000) in the path, the query or
a JSON body, and lone UTF-16 surrogates (``\ud800`` without its pair) in a JSON body.

PostgreSQL cannot store NUL in text, neither database can encode a lone surrogate, and no name,
number or note has a real use for either; without this guard such a request would fail in the driver.
"""

from __future__ import annotations

import json
import re
from typing import Any

from server.core.bodylimit import Message, Receive, Scope, Send

LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class RefuseBadText:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(send, scope["path"], "the URL", "a NUL character (%00)")
            return
        headers = dict(scope.get("headers") or [])
        if b"json" not in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u0000" in body:
            await _refuse(send, scope["path"], "the JSON body", "a NUL character (\\u0000)")
            return
        if LONE_SURROGATE.search(body):
            await _refuse(send, scope["path"], "the JSON body", "a lone UTF-16 surrogate (not a character)")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, path: str, where: str, what: str) -> None:
    body = json.dumps({
        "type": "urn:labgate:problem:unprocessable-entity", "title": "Unprocessable Entity", "status": 422,
        "detail": f"{where} contains {what}; no field accepts one", "instance": path,
    }).encode()
    await send({"type": "http.response.start", "status": 422, "headers": [
        (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
