"""WhatsApp's webhook: check that a call comes from Meta (``X-Hub-Signature-256``, an HMAC-SHA256 of
the raw body with the app secret), answer the subscription challenge, and apply what it reports:
delivery statuses of our messages (sent, delivered, read, failed) and messages people wrote to us
(each opens their 24-hour window for free text)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from server.core.clock import utcnow
from server.notifications.kinds import Channel, Delivery, Status
from server.notifications.tables import Contact, Message

log = logging.getLogger("labgate.notifications")


def signed(secret: str, body: bytes, header: str | None) -> bool:
    """Is ``header`` ``sha256=<hex HMAC of body>`` under ``secret``? (constant time)"""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))


def signature(secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body`` (for peers and tests)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def challenge_answer(verify_token: str, mode: str | None, token: str | None, challenge: str | None) -> str | None:
    """The challenge to echo when Meta subscribes with our verify token, else None."""
    if mode != "subscribe" or token is None or challenge is None:
        return None
    return challenge if hmac.compare_digest(verify_token.encode(), token.encode("utf-8", "replace")) else None


@dataclass(frozen=True)
class Applied:
    statuses: int
    messages: int


def apply(session: Session, payload: dict[str, Any]) -> Applied:
    """Apply a webhook payload; parts it does not know are ignored (Meta adds fields over time)."""
    statuses = messages = 0
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            for status in _dicts(value.get("statuses")):
                statuses += _status(session, status)
            for inbound in _dicts(value.get("messages")):
                messages += _inbound(session, inbound)
    session.commit()
    return Applied(statuses, messages)


def _status(session: Session, status: dict[str, Any]) -> int:
    provider_id, kind = status.get("id"), status.get("status")
    if not isinstance(provider_id, str) or not isinstance(kind, str):
        return 0
    message = session.scalar(select(Message).where(Message.provider_id == provider_id,
                                                   Message.channel == Channel.WHATSAPP.value))
    ours = status.get("biz_opaque_callback_data")  # our message id, sent with it: a status may come before
    if message is None and isinstance(ours, str):  # the sender has recorded WhatsApp's id for the message
        message = session.scalar(select(Message).where(Message.id == ours, Message.channel == Channel.WHATSAPP.value,
                                                       Message.provider_id.is_(None)))
    if message is None:
        return 0
    at = _time(status.get("timestamp"))
    if kind == Delivery.DELIVERED.value:
        message.delivered_at = message.delivered_at or at
        if message.delivery is None:
            message.delivery = Delivery.DELIVERED.value
    elif kind == Delivery.READ.value:
        message.delivered_at = message.delivered_at or at
        message.read_at = message.read_at or at
        message.delivery = Delivery.READ.value
    elif kind == "failed":
        first = next(iter(_dicts(status.get("errors"))), {})
        message.status = Status.FAILED.value
        message.claim = None  # a sender still holding it must not record it as sent afterwards
        message.last_error = (f"WhatsApp reported failure {first.get('code', '?')}: "
                              f"{first.get('title') or first.get('message') or 'no detail'}")[:1000]
    elif kind != "sent":
        return 0
    message.updated_at = utcnow()
    log.info("event=whatsapp_status message=%s status=%s", message.id, kind)
    return 1


def _inbound(session: Session, inbound: dict[str, Any]) -> int:
    sender = inbound.get("from")
    if not isinstance(sender, str) or not sender.isdigit():
        return 0
    at = _time(inbound.get("timestamp"))
    newer = or_(Contact.whatsapp_inbound_at.is_(None), Contact.whatsapp_inbound_at < at)
    done = session.execute(update(Contact).where(Contact.whatsapp == f"+{sender}", newer)
                           .values(whatsapp_inbound_at=at).execution_options(synchronize_session=False))
    return 1 if done.rowcount else 0  # type: ignore[attr-defined]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _time(value: Any) -> datetime:
    """Meta's Unix seconds (a string); now when it is missing or not a sane number."""
    try:
        seconds = int(str(value))
        if 946_684_800 <= seconds <= 4_133_980_799:  # 2000..2100
            return datetime.fromtimestamp(seconds, UTC)
    except ValueError:
        pass
    return utcnow()
