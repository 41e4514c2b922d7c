"""Email over SMTP (aiosmtplib): STARTTLS or implicit TLS, login, multipart text and HTML with a UTF-8
subject. Connections are kept and reused (one per message in flight); a reused connection the relay
has since closed is replaced once at no cost of an attempt.

A 5xx reply to the recipient or to the message is permanent (an address that does not exist, a
message refused); 4xx replies, refused connections, timeouts and drops are transient.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from server.core.clock import utcnow
from server.notifications.channels.base import Failed, Outcome, Outgoing, Retry, Sent, clip
from server.notifications.kinds import Channel
from server.notifications.settings import NotifySettings

log = logging.getLogger("labgate.notifications")

IDLE_SECONDS = 30.0  # a kept connection older than this is closed rather than reused


class EmailAdapter:
    channel = Channel.EMAIL

    def __init__(self, settings: NotifySettings) -> None:
        assert settings.smtp_host, "EmailAdapter needs LABGATE_SMTP_HOST"
        self.settings = settings
        self.concurrency = settings.notify_concurrency
        self.host: str = settings.smtp_host
        self.sender = parseaddr(settings.smtp_from)[1] or settings.smtp_from
        self.domain = self.sender.rpartition("@")[2] or "labgate"
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    def message(self, outgoing: Outgoing) -> EmailMessage:
        """The MIME message: text and HTML alternatives, UTF-8, a Message-ID made from the outbox id."""
        mail = EmailMessage()
        mail["Subject"] = outgoing.subject
        mail["From"] = self.settings.smtp_from
        mail["To"] = Address(addr_spec=outgoing.address)
        mail["Date"] = format_datetime(utcnow())
        mail["Message-ID"] = f"<{outgoing.id}@{self.domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(outgoing.text, charset="utf-8")
        mail.add_alternative(outgoing.html, subtype="html", charset="utf-8")
        for filename, media_type, content in outgoing.attachments:
            maintype, _, subtype = media_type.partition("/")
            mail.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
        mail["Content-Language"] = outgoing.language  # after the content: set_content drops Content-* headers
        return mail

    async def send(self, message: Outgoing) -> Outcome:
        mail = self.message(message)
        for fresh_only in (False, True):
            try:
                client, reused = await self._client(fresh_only)
            except (aiosmtplib.SMTPException, OSError) as exc:
                return Retry(f"cannot reach the SMTP relay {self.host}:{self.settings.smtp_port}: {_describe(exc)}")
            try:
                _refused, reply = await client.send_message(mail, sender=self.sender, recipients=[message.address])
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await _close(client)
                refused = exc.recipients[0]
                return _by_code(refused.code, f"the relay refused {message.address}: {refused.code} "
                                              f"{clip(refused.message)}")
            except aiosmtplib.SMTPServerDisconnected as exc:
                await _close(client)
                if reused and not fresh_only:
                    continue  # the relay closed a kept connection while it was idle: once more, on a new one
                return Retry(f"the SMTP relay dropped the connection: {_describe(exc)}")
            except aiosmtplib.SMTPSenderRefused as exc:  # our own address: a setting to fix, then it goes
                await _close(client)
                return Retry(f"the relay refused the sender {self.sender}: {exc.code} {clip(exc.message)}; check "
                             f"LABGATE_SMTP_FROM")
            except aiosmtplib.SMTPResponseException as exc:
                await _close(client)
                return _by_code(exc.code, f"the relay answered {exc.code} {clip(exc.message)}")
            except (aiosmtplib.SMTPException, OSError) as exc:
                await _close(client)
                return Retry(f"SMTP failed: {_describe(exc)}")
            self._idle.append((client, time.monotonic()))
            return Sent(f"{mail['Message-ID']} {clip(reply, 200)}")
        return Retry("the SMTP relay dropped the connection twice")  # not reached: the loop returns

    async def _client(self, fresh_only: bool) -> tuple[aiosmtplib.SMTP, bool]:
        while self._idle and not fresh_only:
            client, since = self._idle.pop()
            if time.monotonic() - since < IDLE_SECONDS and client.is_connected:
                return client, True
            await _close(client, polite=True)
        settings = self.settings
        context = None
        if settings.smtp_security != "none":
            context = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
        client = aiosmtplib.SMTP(hostname=self.host, port=settings.smtp_port, timeout=settings.smtp_timeout,
                                 use_tls=settings.smtp_security == "tls",
                                 start_tls=settings.smtp_security == "starttls",
                                 tls_context=context)
        await client.connect()
        try:
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                await client.login(settings.smtp_username, password)
        except BaseException:
            await _close(client)
            raise
        return client, False

    async def aclose(self) -> None:
        while self._idle:
            await _close(self._idle.pop()[0], polite=True)


def _by_code(code: int, error: str) -> Outcome:
    return Failed(error) if 500 <= code < 600 else Retry(error)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {clip(str(exc)) or 'no detail'}"


async def _close(client: aiosmtplib.SMTP, polite: bool = False) -> None:
    """Say QUIT when parting on good terms; otherwise (a fault mid-conversation) just close."""
    if polite and client.is_connected:
        try:
            await asyncio.wait_for(client.quit(), timeout=2)
            return
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
    client.close()
