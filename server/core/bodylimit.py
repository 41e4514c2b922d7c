"""Refuse request bodies over a size limit with 413 before any endpoint reads them.

Photo and CSV uploads get a larger limit than JSON. A body without Content-Length (chunked) is
read up to the limit and handed on, or refused once it passes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class BodyLimit:
    def __init__(self, app: Any, default: int, uploads: int, upload_suffixes: tuple[str, ...]) -> None:
        self.app, self.default, self.uploads, self.upload_suffixes = app, default, uploads, upload_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self.uploads if scope["path"].endswith(self.upload_suffixes) else self.default
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await _refuse(send, scope["path"], int(declared), limit)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _refuse(send, scope["path"], size, limit)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, path: str, size: int, limit: int) -> None:
    body = json.dumps({
        "type": "urn:labgate:problem:content-too-large", "title": "Content Too Large", "status": 413,
        "detail": f"the request body is {size:,} bytes or more, over this endpoint's {limit:,}-byte limit",
        "instance": path,
    }).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
