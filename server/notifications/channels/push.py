"""Push through Firebase Cloud Messaging's HTTP v1 API
(``POST {base}/v1/projects/{project}/messages:send``).

The request carries an OAuth2 access token that the service-account key obtains at its own
``token_uri`` (google-auth signs the JWT assertion and exchanges it); the token is kept until it
expires and fetched again after a 401. FCM's ``UNREGISTERED`` (and ``SENDER_ID_MISMATCH``) mean the
token is gone for good: the message fails and the token is forgotten. ``INVALID_ARGUMENT`` fails
the message. 429 and 5xx are transient (``Retry-After`` honoured).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import google.auth.exceptions
import httpx
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from server.notifications.channels.base import Failed, Outcome, Outgoing, Retry, Sent, clip, retry_after
from server.notifications.kinds import Channel
from server.notifications.settings import NotifySettings

log = logging.getLogger("labgate.notifications")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TOKEN_GONE = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


class _TimedRequest(GoogleRequest):  # type: ignore[misc]
    """google-auth's requests transport with our timeout on the token exchange (its default is 120 s)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: Any = None, **kwargs: Any) -> Any:
        return super().__call__(url, method=method, body=body, headers=headers, timeout=self.timeout, **kwargs)


class PushAdapter:
    channel = Channel.PUSH

    def __init__(self, settings: NotifySettings) -> None:
        assert settings.fcm_credentials, "PushAdapter needs LABGATE_FCM_CREDENTIALS"
        try:
            info = json.loads(settings.fcm_credentials.read_text())
            self.credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"LABGATE_FCM_CREDENTIALS={settings.fcm_credentials} is not a service-account key "
                             f"(JSON with client_email, private_key, token_uri): {exc}") from exc
        project = settings.fcm_project_id or info.get("project_id")
        if not project:
            raise ValueError("set LABGATE_FCM_PROJECT_ID: the service-account key names no project_id")
        self.project: str = project
        self.token_uri: str = info.get("token_uri", "")
        self.concurrency = settings.notify_concurrency
        self.timeout = settings.fcm_timeout
        self.client = httpx.AsyncClient(base_url=settings.fcm_base_url, timeout=settings.fcm_timeout,
                                        limits=httpx.Limits(max_connections=settings.notify_concurrency))
        self._lock = asyncio.Lock()
        self.exchanges = 0  # token exchanges made (a figure for logs and tests)

    async def _token(self, stale: str | None = None) -> str:
        """A valid access token; a new one when there is none, it expired, or it is ``stale`` (refused)."""
        async with self._lock:
            if not self.credentials.valid or (stale is not None and self.credentials.token == stale):
                await asyncio.to_thread(self.credentials.refresh, _TimedRequest(self.timeout))
                self.exchanges += 1
                log.info("event=fcm_token_fetched expires=%s", self.credentials.expiry)
            return str(self.credentials.token)

    def body(self, message: Outgoing) -> dict[str, Any]:
        data = {str(k): str(v) for k, v in message.data.items()}
        data.update(message_id=message.id, topic=message.topic)
        return {"message": {"token": message.address, "notification": {"title": message.subject, "body": message.short},
                            "data": data}}

    async def send(self, message: Outgoing) -> Outcome:
        path = f"/v1/projects/{self.project}/messages:send"
        token: str | None = None
        for _ in range(2):
            try:
                token = await self._token(stale=token)
            except (google.auth.exceptions.GoogleAuthError, OSError) as exc:
                return Retry(f"cannot get an FCM access token from {self.token_uri}: {clip(str(exc))}")
            try:
                response = await self.client.post(path, json=self.body(message),
                                                  headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException:
                return Retry(f"FCM gave no answer within {self.timeout} s")
            except httpx.HTTPError as exc:
                return Retry(f"FCM request failed: {type(exc).__name__}: {clip(str(exc))}")
            if response.status_code != 401:
                return self._outcome(response)
        return Retry("FCM refused a freshly fetched access token (401); check the service account's permissions")

    async def aclose(self) -> None:
        await self.client.aclose()

    def _outcome(self, response: httpx.Response) -> Outcome:
        if response.status_code == 200:
            try:
                return Sent(str(response.json()["name"]))
            except (ValueError, KeyError, TypeError):
                return Sent(f"fcm:{response.headers.get('x-request-id', 'accepted')}")
        status, code, text = _error(response)
        described = f"FCM {response.status_code} {code or status}: {clip(text)}"
        if code in TOKEN_GONE or (response.status_code == 404 and status == "NOT_FOUND"):
            return Failed(described, forget_address=True)
        if response.status_code == 429 or response.status_code >= 500:
            return Retry(described, retry_after(response.headers.get("Retry-After")))
        return Failed(described)  # INVALID_ARGUMENT and other refusals of this message


def _error(response: httpx.Response) -> tuple[str, str, str]:
    """(status, FCM errorCode, message) from FCM's error body, as far as it has them."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "", "", response.text[:200]
    code = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = str(detail["errorCode"])
    return str(error.get("status", "")), code, str(error.get("message", ""))
