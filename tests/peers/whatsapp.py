"""A local WhatsApp Cloud API: ``POST /{version}/{phone-number-id}/messages`` with the access token,
template and text messages (text only inside a number's 24-hour window, else error 131047), error
131026 for numbers that cannot receive, and webhook calls back to the server, signed with the app
secret as Meta signs them (``X-Hub-Signature-256``): statuses sent, delivered, read for each message
accepted, and people's own messages (``inbound``)."""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from typing import Any

import httpx

from server.notifications.webhook import signature
from tests.peers.faults import Faults, Ledger
from tests.peers.http import PeerHandler, PeerServer

VERSION = "v21.0"


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"message": f"({code}) {message}", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": message},
                      "fbtrace_id": "local-peer"}}


class _Handler(PeerHandler):
    server: _WhatsAppServer

    def do_POST(self) -> None:
        peer = self.server.peer
        raw = self.body()
        if self.path != f"/{VERSION}/{peer.phone_number_id}/messages":
            self.answer(404, _error(100, f"unknown path {self.path}"))
            return
        if self.headers.get("Authorization") != f"Bearer {peer.access_token}":
            self.answer(401, _error(190, "Invalid OAuth access token"))
            return
        try:
            body = json.loads(raw)
            to, kind, message_id = body["to"], body["type"], body["biz_opaque_callback_data"]
            assert body["messaging_product"] == "whatsapp" and kind in ("text", "template")
        except (ValueError, KeyError, TypeError, AssertionError):
            self.answer(400, _error(100, "Invalid parameter"))
            return
        self.server.ledger.request()
        if to in peer.undeliverable:
            self.answer(400, _error(131026, "Message undeliverable"))
            return
        if kind == "text" and to not in peer.window:
            self.answer(400, _error(131047, "Re-engagement message: more than 24 hours since the customer replied"))
            return
        if self.fault(message_id, lambda status: _error(131000, "Something went wrong") if status == 500 else
                      _error(130429, "Rate limit hit")):
            return
        if peer.latency:
            time.sleep(peer.latency)
        wamid = f"wamid.local{next(peer.counter):08d}"
        self.server.ledger.accept(message_id)
        with peer.lock:
            peer.messages.append(body)
        self.answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                          "messages": [{"id": wamid}]})
        if peer.webhook_url and peer.report_statuses:
            for status in ("sent", "delivered", "read"):
                peer.post_webhook(peer.status_payload(wamid, to, status, message_id))


class _WhatsAppServer(PeerServer):
    peer: WhatsAppPeer


class WhatsAppPeer:
    def __init__(self, app_secret: str, phone_number_id: str = "109876543210", access_token: str = "EAAG-local",
                 faults: Faults | None = None, latency: float = 0.0, report_statuses: bool = True) -> None:
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.faults = faults or Faults()
        self.ledger = Ledger()
        self.latency = latency
        self.report_statuses = report_statuses
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.undeliverable: set[str] = set()
        self.window: set[str] = set()  # numbers (digits) that wrote to us in the last 24 hours
        self.webhook_url: str | None = None
        self.webhook_answers: list[int] = []
        self.counter = itertools.count(1)
        self.server = _WhatsAppServer(_Handler, self.faults, self.ledger)
        self.server.peer = self
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._poster = threading.Thread(target=self._post_loop, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/{VERSION}"

    def start(self) -> WhatsAppPeer:
        self.server.start()
        self._poster.start()
        return self

    def stop(self) -> None:
        self._outbox.put(None)
        self._poster.join(timeout=10)
        self.server.stop()

    def wait_for_webhooks(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    def status_payload(self, wamid: str, to: str, status: str, message_id: str) -> dict[str, Any]:
        return self._envelope({"statuses": [{"id": wamid, "status": status, "timestamp": str(int(time.time())),
                                             "recipient_id": to, "biz_opaque_callback_data": message_id}]})

    def inbound(self, number: str, text: str) -> dict[str, Any]:
        """A person writes to the lab's number: their window opens here and the server is told."""
        digits = number.lstrip("+")
        with self.lock:
            self.window.add(digits)
        payload = self._envelope({"contacts": [{"profile": {"name": "someone"}, "wa_id": digits}],
                                  "messages": [{"from": digits, "id": f"wamid.in{next(self.counter)}",
                                                "timestamp": str(int(time.time())), "type": "text",
                                                "text": {"body": text}}]})
        self.post_webhook(payload)
        return payload

    def post_webhook(self, payload: dict[str, Any]) -> None:
        self._outbox.put(json.dumps(payload).encode())

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {"object": "whatsapp_business_account", "entry": [{"id": "WABA-local", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp",
                                           "metadata": {"display_phone_number": "6221000000",
                                                        "phone_number_id": self.phone_number_id}, **value}}]}]}

    def _post_loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            while (body := self._outbox.get()) is not None:
                try:
                    answer = client.post(str(self.webhook_url), content=body, headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": signature(self.app_secret, body)})
                    with self.lock:
                        self.webhook_answers.append(answer.status_code)
                except httpx.HTTPError:
                    with self.lock:
                        self.webhook_answers.append(0)
                finally:
                    self._outbox.task_done()
            self._outbox.task_done()
