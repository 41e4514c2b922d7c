"""Every request body, whatever its method, checked as it streams in and never held: over its size
limit it gets 413, with text no database can store (``textguard``) 422, both as problem+json.

A declared Content-Length over the limit is refused before a byte is read. Otherwise each chunk is
counted (and, unless the body is a multipart upload, scanned) when the endpoint asks for it; on a
fault the client gets the problem at once and the endpoint is told the client went away, so
nothing of the body is kept and the endpoint's own answer is dropped. A request with neither
Content-Length nor Transfer-Encoding has no body (HTTP/1.1) and passes untouched: the ordinary GET
costs one look at its headers. A plain ASGI middleware.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from server.core.textguard import Scanner

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Message = {"type": "http.disconnect"}


class BodyGuard:
    def __init__(self, app: App, default: int, uploads: int, upload_suffixes: tuple[str, ...]) -> None:
        self.app, self.default, self.uploads, self.upload_suffixes = app, default, uploads, upload_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            await respond(send, 422, path, "the URL contains a NUL character (%00); no field accepts one")
            return
        length: bytes | None = None
        streamed = False
        media = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                streamed = True
            elif name == b"content-type":
                media = value
        if length is None and not streamed:
            await self.app(scope, receive, send)
            return
        limit = self.uploads if path.endswith(self.upload_suffixes) else self.default
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await respond(send, 413, path, too_large(int(length), limit), close=True)
            return
        scan = not media.lower().lstrip().startswith(b"multipart/")
        await _Guarded(self.app, scope, receive, send, limit, scan).run()


class _Guarded:
    """One request's body under watch: its byte count, its scanner, and whether the answer has begun."""

    def __init__(self, app: App, scope: Scope, receive: Receive, send: Send, limit: int, scan: bool) -> None:
        self.app, self.scope, self._receive, self._send = app, scope, receive, send
        self.limit = limit
        self.scanner = Scanner() if scan else None
        self.size = 0
        self.started = False  # the endpoint began its answer
        self.refused = False  # we answered for it

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return DISCONNECT
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self.size += len(chunk)
        if self.size > self.limit:
            await self.refuse(413, too_large(self.size, self.limit))
            return DISCONNECT
        if self.scanner is not None:
            found = self.scanner.feed(chunk, final=not message.get("more_body", False))
            if found is not None:
                await self.refuse(422, f"the body contains {found}; no field accepts one")
                return DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the endpoint's answer to a body we refused
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self, status: int, detail: str) -> None:
        self.refused = True
        if not self.started:
            await respond(self._send, status, self.scope["path"], detail, close=True)


def too_large(size: int, limit: int) -> str:
    return f"the request body is {size:,} bytes or more, over this endpoint's {limit:,}-byte limit"


PHRASES = {413: ("content-too-large", "Content Too Large"), 422: ("unprocessable-entity", "Unprocessable Entity")}


async def respond(send: Send, status: int, path: str, detail: str, close: bool = False) -> None:
    """A problem+json answer sent straight from the middleware (``close``: and end the connection, so
    the rest of a refused body is not read)."""
    slug, title = PHRASES[status]
    body = json.dumps({"type": f"urn:labgate:problem:{slug}", "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
