"""The sender's life in a server process: the adapters of the configured channels, the start-up
line saying which channels are on and off, and the background task the app's lifespan runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.core.database import Database
from server.notifications.channels.base import Adapter
from server.notifications.kinds import Channel
from server.notifications.sender import Sender
from server.notifications.settings import NotifySettings

log = logging.getLogger("labgate.notifications")


def adapters(settings: NotifySettings) -> dict[Channel, Adapter]:
    """An adapter for each channel that has its settings (a wrong key file stops the start, saying why)."""
    from server.notifications.channels.email import EmailAdapter
    from server.notifications.channels.push import PushAdapter
    from server.notifications.channels.whatsapp import WhatsAppAdapter

    kinds: dict[Channel, type[Adapter]] = {Channel.EMAIL: EmailAdapter, Channel.PUSH: PushAdapter,
                                           Channel.WHATSAPP: WhatsAppAdapter}
    return {channel: kinds[channel](settings) for channel in settings.enabled()}  # type: ignore[call-arg]


def announce(settings: NotifySettings) -> None:
    for channel, state in settings.state().items():
        log.log(logging.INFO if state == "on" else logging.WARNING, "event=notify_channel channel=%s state=%r",
                channel.value, state)


@asynccontextmanager
async def sending(database: Database, settings: NotifySettings) -> AsyncIterator[Sender | None]:
    """Run a sender in the background for as long as the context is open (None when there is nothing to
    send through, or LABGATE_NOTIFY_SENDER=false)."""
    announce(settings)
    if not settings.notify_sender or not settings.enabled():
        yield None
        return
    sender = Sender(database, settings, adapters(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop), name="labgate-notify-sender")
    try:
        yield sender
    finally:
        stop.set()
        try:
            await task
        finally:
            await sender.aclose()
