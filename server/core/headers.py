"""Security headers on every response, added as the response starts (a plain ASGI middleware).

Everything: ``X-Content-Type-Options: nosniff`` (a browser never guesses a type), no referrer, and
no framing. API answers (tokens, people, attendance) also get ``Cache-Control: no-store`` and a
content security policy that allows nothing; the documentation pages get theirs from ``docs``.
An endpoint that sets one of these headers itself keeps its own.
"""

from __future__ import annotations

from server.core import docs
from server.core.bodyguard import App, Message, Receive, Scope, Send

COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY")]
API = [*COMMON, (b"cache-control", b"no-store"),
       (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
DOCS = [*COMMON, (b"content-security-policy", docs.POLICY.encode())]


class SecurityHeaders:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = DOCS if scope["path"].startswith(docs.PREFIX) else API

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, stamped)
