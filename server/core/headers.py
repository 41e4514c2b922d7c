"""Security headers on every response, added as the response starts (a plain ASGI middleware).

Everything: ``X-Content-Type-Options: nosniff`` (a browser never guesses a type), no referrer, and
no framing. API answers (tokens, people, attendance: every path under ``API_PATHS``) also get
``Cache-Control: no-store`` and a content security policy that allows nothing; the documentation
pages get theirs from ``docs``. The web pages (every other path) are not cached either and may load
scripts, styles and images from this server only, plus ``data:`` images (the QR codes they draw);
no inline script or style, no other host. Their static files are revalidated (``no-cache``) rather
than never stored. An endpoint that sets one of these headers itself keeps its own.
"""

from __future__ import annotations

from server.core import docs
from server.core.bodyguard import App, Message, Receive, Scope, Send

COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY")]
API = [*COMMON, (b"cache-control", b"no-store"),
       (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]
DOCS = [*COMMON, (b"content-security-policy", docs.POLICY.encode())]
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGES = [*COMMON, (b"cache-control", b"no-store"), (b"content-security-policy", PAGE_POLICY.encode())]
STATIC = [*COMMON, (b"cache-control", b"no-cache"), (b"content-security-policy", PAGE_POLICY.encode())]
API_PATHS = ("/api/", "/health", "/metrics", "/openapi.json")
STATIC_PREFIX = "/static/"


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith(docs.PREFIX):
        return DOCS
    if path.startswith(API_PATHS):
        return API
    return STATIC if path.startswith(STATIC_PREFIX) else PAGES


class SecurityHeaders:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, stamped)
