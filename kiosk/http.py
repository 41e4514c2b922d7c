"""The kiosk's local HTTP endpoint (loopback unless configured), stdlib http.server in a thread.

- ``GET /health``: JSON with camera state and fps, model id, outbox size, last sync, threads alive, and
  ``decision``: the gallery size, the τ chosen for it and the expected strangers accepted per walk-up.
- ``GET /metrics``: Prometheus text.
- ``GET /events?after=SEQ&limit=N`` with ``Authorization: Bearer <token>``: the contract's kiosk
  pull-out, so a server or a technician's laptop can fetch logs from a kiosk that cannot reach out.
Errors are RFC 9457 problem+json.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from device.logs import log
from device.store import Store

MAX_LIMIT = 1000


class StatusServer:
    def __init__(self, host: str, port: int, store: Store, health: Callable[[], dict[str, Any]],
                 metrics: Callable[[], bytes], events_token: str | None, device_id: Callable[[], str]) -> None:
        self.store, self.health, self.metrics = store, health, metrics
        self.events_token = events_token
        self.device_id = device_id
        handler = type("Handler", (_Handler,), {"owner": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> StatusServer:
        self._thread.start()
        log("http_listening", host=self.server.server_address[0], port=self.port,
            events="on" if self.events_token else "off (no [http] events_token_file)")
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2.0)


class _Handler(BaseHTTPRequestHandler):
    owner: StatusServer
    server_version = "labgate-kiosk"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not logged line by line (the metrics count what matters)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            if url.path == "/health":
                self._json(200, self.owner.health())
            elif url.path == "/metrics":
                self._send(200, self.owner.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif url.path == "/events":
                self._events(parse_qs(url.query))
            else:
                self._problem(404, "Not found", f"no resource {url.path}; try /health, /metrics or /events")
        except Exception as exc:
            log("http_error", path=url.path, error=str(exc))
            self._problem(500, "Internal error", "the kiosk could not answer; see its log")

    def _events(self, query: dict[str, list[str]]) -> None:
        token = self.owner.events_token
        if token is None:
            self._problem(403, "Events are not served", "this kiosk has no [http] events_token_file configured")
            return
        given = self.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            self.send_response(401)
            body = _problem_body(401, "Unauthorized", "send Authorization: Bearer <kiosk events token>")
            self.send_header("WWW-Authenticate", 'Bearer realm="labgate-kiosk"')
            self._finish(body, "application/problem+json")
            return
        try:
            after = int(query.get("after", ["0"])[0])
            limit = int(query.get("limit", [str(MAX_LIMIT)])[0])
            if after < 0 or not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            self._problem(422, "Bad query", f"after must be a whole number >= 0 and limit 1..{MAX_LIMIT}",
                          errors=[{"loc": ["query", "after"], "msg": "whole number >= 0"},
                                  {"loc": ["query", "limit"], "msg": f"1..{MAX_LIMIT}"}])
            return
        events = self.owner.store.events_after(after, limit)
        next_after = events[-1].seq if events else after
        self._json(200, {"device_id": self.owner.device_id(), "events": [e.contract() for e in events],
                         "next_after": next_after})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _problem(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self._send(status, _problem_body(status, title, detail, **extra), "application/problem+json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self._finish(body, kind)

    def _finish(self, body: bytes, kind: str) -> None:
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}).encode()
