"""What every channel adapter is and returns, and the parsing of ``Retry-After`` they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from server.notifications.kinds import Channel

RETRY_AFTER_MAX = 86400.0


@dataclass(frozen=True)
class Outgoing:
    """A claimed message, as the sender hands it to an adapter."""

    id: str
    claim: str
    channel: Channel
    person_id: str
    address: str
    language: str
    topic: str
    template: str
    subject: str
    text: str
    html: str
    short: str
    attempts: int  # this one included
    data: dict[str, Any] = field(default_factory=dict)
    free_text: bool = False  # WhatsApp: the person wrote to us in the last 24 hours
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # email: (filename, media type, content)


@dataclass(frozen=True)
class Sent:
    provider_id: str


@dataclass(frozen=True)
class Retry:
    """A transient failure: try again later (no earlier than ``retry_after`` seconds, when given)."""

    error: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Failed:
    """A permanent failure: never retried. ``forget_address``: the address is gone for good (an
    unregistered push token) and is deleted."""

    error: str
    forget_address: bool = False


Outcome = Sent | Retry | Failed


class Adapter(Protocol):
    channel: Channel
    concurrency: int

    async def send(self, message: Outgoing) -> Outcome: ...

    async def aclose(self) -> None: ...


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - (now or datetime.now(UTC))).total_seconds(), 0.0), RETRY_AFTER_MAX)


def clip(text: str, limit: int = 500) -> str:
    """A provider's error text, short enough for a log line and the message's last_error."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
