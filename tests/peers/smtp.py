"""A local SMTP relay (aiosmtpd) on loopback: STARTTLS or implicit TLS with a self-signed certificate,
AUTH LOGIN/PLAIN with one user, 550 for addresses it does not know, the fault script on DATA, and every
accepted message kept as bytes for the test to parse.

SMTP has no 500 or 429: the peer answers ``451`` (try again later) and ``421`` (slow down) instead;
a drop closes the connection mid-DATA; a hang takes the message and never answers.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import logging
import socket
import threading
import warnings
from pathlib import Path
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.peers.faults import Faults, Ledger
from tests.peers.tls import self_signed, server_context

USER, PASSWORD = "labgate", "relay password"
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")  # aiosmtpd's own AUTH code
logging.getLogger("mail.log").setLevel(logging.ERROR)  # ... which also logs that warning


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address in self.peer.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        peer = self.peer
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = str(parsed.get("Message-ID", "")).strip("<>").split("@")[0]
        peer.ledger.request()
        mode = peer.faults.next()
        if mode == "500":
            return "451 4.3.0 local relay: temporary failure, try again later"
        if mode == "429":
            peer.ledger.throttle()
            return "421 4.7.0 local relay: too many messages, slow down"
        if mode == "drop":
            cast(asyncio.Transport, server.transport).abort()
            return "250 2.0.0 never seen"
        if mode == "hang":
            peer.ledger.accept(message_id, lost=True)
            await asyncio.sleep(peer.faults.hang_seconds)
            if server.transport is not None:
                cast(asyncio.Transport, server.transport).abort()
            return "250 2.0.0 too late"
        if peer.latency:
            await asyncio.sleep(peer.latency)
        peer.ledger.accept(message_id)
        with peer.lock:
            peer.received.append(raw)
            peer.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return f"250 2.0.0 Ok: queued as LOCAL{next(peer.counter):06d}"


class SmtpPeer:
    def __init__(self, folder: Path, security: Literal["starttls", "tls"] = "starttls", faults: Faults | None = None,
                 latency: float = 0.0) -> None:
        self.security = security
        self.faults = faults or Faults()
        self.ledger = Ledger()
        self.latency = latency
        self.lock = threading.Lock()
        self.received: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()
        self.logins: list[str] = []
        self.counter = itertools.count(1)
        self.cert_file, key_file = self_signed(folder)
        context = server_context(self.cert_file, key_file)
        self.port = free_port()
        kwargs: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": True,
                                  "command_call_limit": 100_000}
        if security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:  # implicit TLS: aiosmtpd does not see it when deciding to offer AUTH, but the socket is TLS
            kwargs.update(ssl_context=context, auth_require_tls=False)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="relay.local.test", **kwargs)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
            auth_data.password == PASSWORD.encode()
        with self.lock:
            self.logins.append(f"{mechanism}:{'ok' if ok else 'refused'}")
        return AuthResult(success=ok, handled=False)

    def settings(self) -> dict[str, Any]:
        """The LABGATE_SMTP_* settings (as NotifySettings fields) that reach this relay."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": self.security,
                "smtp_username": USER, "smtp_password": PASSWORD, "smtp_from": "LabGate <labgate@lab.example.ac.id>",
                "smtp_ca_file": self.cert_file}

    def start(self) -> SmtpPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
                    for raw in self.received]
