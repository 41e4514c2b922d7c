"""A local FCM: Google's OAuth2 token endpoint (the JWT-bearer grant, RFC 7523) and the FCM HTTP v1
send endpoint. The token endpoint verifies the signed assertion with the public half of the test's
service-account key; the send endpoint takes only the access tokens it issued.

    peer = FcmPeer(project="labgate-test").start()
    key_file.write_text(json.dumps(peer.key))      # LABGATE_FCM_CREDENTIALS, token_uri = peer
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.peers.faults import Faults, Ledger
from tests.peers.http import PeerHandler, PeerServer

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google's endpoint wants in aud, wherever token_uri points


def _fcm_error(status: int, code: str, error_code: str | None = None) -> dict[str, Any]:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}] \
        if error_code else []
    return {"error": {"code": status, "message": f"{code} (local peer)", "status": code, "details": details}}


class _Handler(PeerHandler):
    server: _FcmServer

    def do_POST(self) -> None:
        peer = self.server.peer
        raw = self.body()
        if self.path == "/token":
            self._token(peer, raw)
            return
        wanted = f"/v1/projects/{peer.project}/messages:send"
        if self.path != wanted:
            self.answer(404, _fcm_error(404, "NOT_FOUND"))
            return
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if bearer not in peer.issued:
            self.answer(401, _fcm_error(401, "UNAUTHENTICATED"))
            return
        try:
            message = json.loads(raw)["message"]
            token, message_id = message["token"], message["data"]["message_id"]
        except (ValueError, KeyError, TypeError):
            self.answer(400, _fcm_error(400, "INVALID_ARGUMENT"))
            return
        self.server.ledger.request()
        if token in peer.unregistered:
            self.answer(404, _fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
            return
        if token in peer.invalid:
            self.answer(400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
            return
        if self.fault(message_id, lambda status: _fcm_error(status, "INTERNAL" if status == 500 else
                                                            "RESOURCE_EXHAUSTED", "INTERNAL" if status == 500 else
                                                            "QUOTA_EXCEEDED")):
            return
        if peer.latency:
            time.sleep(peer.latency)
        self.server.ledger.accept(message_id)
        with peer.lock:
            peer.messages.append(message)
        self.answer(200, {"name": f"projects/{peer.project}/messages/0:{next(peer.counter)}"})

    def _token(self, peer: FcmPeer, raw: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        try:
            assert form.get("grant_type") == GRANT, f"grant_type {form.get('grant_type')}"
            claims = jwt.decode(form["assertion"], peer.public_key, algorithms=["RS256"], audience=AUDIENCE,
                                issuer=peer.key["client_email"], options={"require": ["exp", "iat", "aud", "iss"]})
            assert SCOPE in str(claims.get("scope", "")).split(), f"scope {claims.get('scope')}"
            assert claims["exp"] - claims["iat"] <= 3600, "an assertion may live an hour at most"
        except (AssertionError, KeyError, jwt.PyJWTError) as exc:
            with peer.lock:
                peer.refused_assertions.append(str(exc))
            self.answer(400, {"error": "invalid_grant", "error_description": str(exc)})
            return
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with peer.lock:
            peer.issued.add(token)
            peer.exchanges += 1
        self.answer(200, {"access_token": token, "expires_in": peer.expires_in, "token_type": "Bearer"})


class _FcmServer(PeerServer):
    peer: FcmPeer


class FcmPeer:
    def __init__(self, project: str = "labgate-test", faults: Faults | None = None, expires_in: int = 3600,
                 latency: float = 0.0) -> None:
        self.project = project
        self.faults = faults or Faults()
        self.ledger = Ledger()
        self.expires_in = expires_in
        self.latency = latency
        self.lock = threading.Lock()
        self.issued: set[str] = set()
        self.exchanges = 0
        self.refused_assertions: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.unregistered: set[str] = set()
        self.invalid: set[str] = set()
        self.counter = itertools.count(1)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = private.public_key()
        self.server = _FcmServer(_Handler, self.faults, self.ledger)
        self.server.peer = self
        self.token_uri = f"{self.server.url}/token"
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        self.key = {"type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20),
                    "private_key": pem, "client_email": f"labgate-sender@{project}.iam.gserviceaccount.com",
                    "client_id": "1" * 21, "token_uri": self.token_uri}

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FcmPeer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
