"""An HTTP/1.1 proxy of the tests' own that injects faults between the kiosk and the server.

Each request is read whole from the kiosk, then a ``decide`` function picks its fate:

- ``None``: forwarded, and the answer passed back;
- ``"500"``: answered 500 by the proxy, never forwarded (the server never saw it);
- ``"503"``: answered 503 with ``Retry-After`` (seconds in ``retry_after``), never forwarded;
- ``"422"``: answered 422 (the server refuses the request itself), never forwarded;
- ``"reset"``: the kiosk's connection is reset (RST) before forwarding;
- ``"hold"``: never forwarded, never answered: the kiosk times out;
- ``"drop"``: forwarded, the server answers (it committed), and the kiosk's connection is reset
  instead of getting the answer: the kiosk must send the batch again;
- ``"late"``: forwarded, answered, and the answer held back until the kiosk gave up (a timeout
  after the server committed).

When the server is down, the proxy resets the kiosk's connection. ``after_forward`` hooks run once a
request went to the server, before its answer is read (the tests kill processes there: mid-request).
``shift_s`` moves the server's clock as the kiosk sees it (the Date header and ``server_time``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime


@dataclass
class Request:
    number: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Proxy:
    upstream: tuple[str, int]
    decide: Callable[[Request], str | None] = lambda _request: None
    after_forward: list[Callable[[Request], None]] = field(default_factory=list)
    retry_after: int = 1
    hold_s: float = 30.0
    late_s: float = 3.0
    shift_s: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    seen: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        with self._lock:
            for conn in list(self._connections):
                _reset(conn)
        self._thread.join(5)

    # -- connections -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                request = self._read_request(reader)
                if request is None or not self._handle(conn, request):
                    return
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._connections.discard(conn)
            reader.close()  # the socket closes (with RST after _reset) once its file is closed too
            conn.close()

    def _read_request(self, reader: object) -> Request | None:
        line = reader.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        method, path, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            header = reader.readline().decode("latin-1")  # type: ignore[attr-defined]
            if header in ("\r\n", "\n", ""):
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers.get("content-length", "0") or 0))  # type: ignore[attr-defined]
        with self._lock:
            request = Request(len(self.seen) + 1, method, path, headers, body)
            self.seen.append(request)
        return request

    # -- one request -------------------------------------------------------------------------------
    def _handle(self, conn: socket.socket, request: Request) -> bool:
        """Returns whether the kiosk's connection stays open for another request."""
        fault = self.decide(request)
        if fault:
            self.faults[fault] += 1
        if fault == "500":
            conn.sendall(_response(500, b'{"title":"Internal Server Error","status":500,"detail":"injected"}'))
            return True
        if fault == "422":
            conn.sendall(_response(422, b'{"title":"Unprocessable","status":422,"detail":"injected refusal"}'))
            return True
        if fault == "503":
            conn.sendall(_response(503, b'{"title":"Unavailable","status":503,"detail":"injected"}',
                                   {"Retry-After": str(self.retry_after)}))
            return True
        if fault == "reset":
            _reset(conn)
            return False
        if fault == "hold":
            conn.settimeout(self.hold_s)
            with contextlib.suppress(OSError):
                conn.recv(1)  # until the kiosk gives up and closes
            return False
        answer = self._forward(request)
        if answer is None:  # the server is down or died mid-request
            self.faults["server_gone"] += 1
            _reset(conn)
            return False
        if fault == "drop":
            _reset(conn)
            return False
        if fault == "late":
            time.sleep(self.late_s)
            _reset(conn)
            return False
        conn.sendall(self._shifted(answer) if self.shift_s else answer)
        return False  # the answer says Connection: close (asked of the server), so the kiosk reconnects

    def _forward(self, request: Request) -> bytes | None:
        head = [f"{request.method} {request.path} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in request.headers.items() if k not in ("connection", "keep-alive")]
        head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            return None
        try:
            upstream.sendall(data)
            for hook in self.after_forward:
                hook(request)
            chunks = []
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            return None
        finally:
            upstream.close()
        answer = b"".join(chunks)
        head_end = answer.find(b"\r\n\r\n")
        if head_end < 0:
            return None  # the server died before answering
        length = next((int(line.split(b":", 1)[1]) for line in answer[:head_end].split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is not None and len(answer) - head_end - 4 < length:
            return None  # cut mid-body
        return answer

    def _shifted(self, answer: bytes) -> bytes:
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        out = [lines[0]]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "date":
                moved = parsedate_to_datetime(value.strip()).timestamp() + self.shift_s
                line = f"{name}: {formatdate(moved, usegmt=True)}"
            elif name.lower() == "content-length":
                continue
            out.append(line)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("server_time"), str):
            moved_at = parsedate_to_iso(parsed["server_time"], self.shift_s)
            parsed["server_time"] = moved_at
            body = json.dumps(parsed).encode()
        out.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


def parsedate_to_iso(text: str, shift_s: float) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() + shift_s
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _response(status: int, body: bytes, extra: dict[str, str] | None = None) -> bytes:
    reason = {422: "Unprocessable Content", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/problem+json", f"Content-Length: {len(body)}",
            f"Date: {formatdate(usegmt=True)}"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _reset(conn: socket.socket) -> None:
    """Close with RST, as a crashed peer or a middlebox does."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass
