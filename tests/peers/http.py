"""The HTTP side the FCM and WhatsApp peers share: a threaded server on loopback whose handler runs
the fault script before the provider's own logic."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.peers.faults import Faults, Ledger


class PeerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], faults: Faults, ledger: Ledger) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.faults, self.ledger = faults, ledger
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed server, a timeout) is expected here, not a traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> PeerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class PeerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PeerServer

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def fault(self, message_id: str | None, error: Callable[[int], Any]) -> bool:
        """Play the next scripted fault, if any; True when it answered (or hung, or dropped). ``error``
        makes the provider's error body for a status."""
        mode = self.server.faults.next()
        if mode is None:
            return False
        if mode == "500":
            self.answer(500, error(500))
        elif mode == "429":
            self.server.ledger.throttle()
            self.answer(429, error(429), {"Retry-After": str(self.server.faults.retry_after)})
        elif mode == "drop":
            self.drop()
        elif mode == "hang":
            if message_id:
                self.server.ledger.accept(message_id, lost=True)
            time.sleep(self.server.faults.hang_seconds)
            self.drop()
        return True

    def drop(self) -> None:
        """Close the connection with no answer (a reset, as a crashed proxy would)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass
