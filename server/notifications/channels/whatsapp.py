"""WhatsApp through the Cloud API (``POST {base}/{phone-number-id}/messages``).

Outside the 24 hours after the person last wrote to us, WhatsApp takes only approved template
messages: ours is one template per language (``LABGATE_WHATSAPP_TEMPLATE``) whose body has two
parameters, the subject and the short text. Inside the window the message goes as free text. If
WhatsApp says the window has closed (131047), the same message goes at once as the template.

131026 (the number cannot receive it) and other refusals of this message are permanent; rate
limits (130429, 131056, 429) and 5xx are transient, ``Retry-After`` honoured.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.notifications.channels.base import Failed, Outcome, Outgoing, Retry, Sent, clip, retry_after
from server.notifications.kinds import Channel
from server.notifications.settings import NotifySettings

WINDOW_CLOSED = 131047
TRANSIENT_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004}  # temporary, throttled, busy
CONFIG_CODES = {0, 3, 10, 190, 200}  # our token or permissions: fix the settings, then it goes


class WhatsAppAdapter:
    channel = Channel.WHATSAPP

    def __init__(self, settings: NotifySettings) -> None:
        assert settings.whatsapp_phone_number_id and settings.whatsapp_access_token, "WhatsApp is not configured"
        self.concurrency = settings.notify_concurrency
        self.timeout = settings.whatsapp_timeout
        self.template = settings.whatsapp_template
        self.path = f"{settings.whatsapp_phone_number_id}/messages"
        base = settings.whatsapp_base_url.rstrip("/") + "/"
        self.client = httpx.AsyncClient(base_url=base, timeout=settings.whatsapp_timeout,
                                        limits=httpx.Limits(max_connections=settings.notify_concurrency),
                                        headers={"Authorization": "Bearer "
                                                 + settings.whatsapp_access_token.get_secret_value()})

    def body(self, message: Outgoing, free_text: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                "to": message.address.lstrip("+"), "biz_opaque_callback_data": message.id}
        if free_text:
            body.update(type="text", text={"preview_url": False, "body": message.text.strip()[:4096]})
        else:
            parameters = [{"type": "text", "text": message.subject[:1024]}, {"type": "text", "text": message.short}]
            body.update(type="template", template={"name": self.template, "language": {"code": message.language},
                                                   "components": [{"type": "body", "parameters": parameters}]})
        return body

    async def send(self, message: Outgoing) -> Outcome:
        outcome = await self._post(message, message.free_text)
        if isinstance(outcome, _WindowClosed):
            outcome = await self._post(message, False)
        assert not isinstance(outcome, _WindowClosed)
        return outcome

    async def _post(self, message: Outgoing, free_text: bool) -> Outcome | _WindowClosed:
        try:
            response = await self.client.post(self.path, json=self.body(message, free_text))
        except httpx.TimeoutException:
            return Retry(f"WhatsApp gave no answer within {self.timeout} s")
        except httpx.HTTPError as exc:
            return Retry(f"WhatsApp request failed: {type(exc).__name__}: {clip(str(exc))}")
        if response.status_code == 200:
            try:
                return Sent(str(response.json()["messages"][0]["id"]))
            except (ValueError, KeyError, IndexError, TypeError):
                return Retry(f"WhatsApp answered 200 without a message id: {clip(response.text, 200)}")
        code, text = _error(response)
        described = f"WhatsApp {response.status_code} error {code}: {clip(text)}"
        if code == WINDOW_CLOSED and free_text:
            return _WindowClosed()
        wait = retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429 or response.status_code >= 500 or code in TRANSIENT_CODES | CONFIG_CODES:
            return Retry(described, wait)
        return Failed(described)

    async def aclose(self) -> None:
        await self.client.aclose()


class _WindowClosed:
    """Free text refused: the 24-hour window closed after the message was claimed."""


def _error(response: httpx.Response) -> tuple[int | None, str]:
    try:
        error = response.json()["error"]
        detail = (error.get("error_data") or {}).get("details") or error.get("message", "")
        return int(error["code"]), str(detail)
    except (ValueError, KeyError, TypeError):
        return None, response.text[:200]
