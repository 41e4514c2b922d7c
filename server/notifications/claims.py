"""The sender's side of the outbox: claim due messages, settle each with what the channel said, and
the admin's resend.

Claiming is one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``: on
PostgreSQL concurrent senders skip each other's rows; on SQLite the statement runs under the one
write lock, so one claimant at a time. A claim is a lease: the row is ``sending`` until
``next_attempt_at``; a sender that dies (kill -9) leaves it to be claimed again when the lease ends,
so a message is never lost, and sent twice only if the provider took it just before the death.
Settling checks the claim token, so a sender whose lease ran out cannot overwrite a newer claim.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.core.clock import utcnow
from server.core.errors import Conflict, NotFound
from server.core.ids import new_id
from server.notifications.channels.base import Failed, Outcome, Outgoing, Sent
from server.notifications.kinds import Channel, Status
from server.notifications.settings import NotifySettings
from server.notifications.tables import Attachment, Contact, Message, PushToken

log = logging.getLogger("labgate.notifications")

WINDOW = timedelta(hours=24)  # WhatsApp: free text only this long after the person last wrote


def claim(session: Session, channel: Channel, limit: int, lease_seconds: float) -> list[Outgoing]:
    """Take up to ``limit`` due messages of ``channel`` (queued and due, or claimed by a sender whose
    lease ran out) and commit the claim."""
    now = utcnow()
    token = new_id()
    due = (select(Message.id)
           .where(Message.channel == channel.value, Message.status.in_([Status.QUEUED.value, Status.SENDING.value]),
                  Message.next_attempt_at <= now)
           .order_by(Message.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    taken = session.execute(
        update(Message).where(Message.id.in_(due.scalar_subquery()))
        .values(status=Status.SENDING.value, claim=token, attempts=Message.attempts + 1,
                next_attempt_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(Message.id, Message.person_id, Message.address, Message.language, Message.topic, Message.template,
                   Message.subject, Message.body_text, Message.body_html, Message.short, Message.attempts,
                   Message.data, Message.created_at, Message.notification_key)
        .execution_options(synchronize_session=False)).all()
    window: set[str] = set()
    if channel is Channel.WHATSAPP and taken:
        window = set(session.scalars(select(Contact.whatsapp).where(
            Contact.person_id.in_({row.person_id for row in taken}), Contact.whatsapp_inbound_at > now - WINDOW)))
    attached: dict[str, list[tuple[str, str, bytes]]] = {}
    if channel is Channel.EMAIL and taken:
        for item in session.scalars(select(Attachment).where(
                Attachment.notification_key.in_({row.notification_key for row in taken}))):
            attached.setdefault(item.notification_key, []).append((item.filename, item.media_type, item.content))
    session.commit()
    taken = sorted(taken, key=lambda row: row.created_at)
    return [Outgoing(id=row.id, claim=token, channel=channel, person_id=row.person_id, address=row.address,
                     language=row.language, topic=row.topic, template=row.template, subject=row.subject,
                     text=row.body_text, html=row.body_html, short=row.short, attempts=row.attempts,
                     data=dict(row.data or {}), free_text=row.address in window,
                     attachments=tuple(attached.get(row.notification_key, ()))) for row in taken]


def settle(session: Session, message: Outgoing, outcome: Outcome, settings: NotifySettings,
           rng: random.Random | None = None) -> str | None:
    """Record ``outcome`` for one message this sender claimed, and commit (see ``settle_all``)."""
    return settle_all(session, [(message, outcome)], settings, rng)[0]


def settle_all(session: Session, outcomes: Sequence[tuple[Outgoing, Outcome]], settings: NotifySettings,
               rng: random.Random | None = None) -> list[str | None]:
    """Record each message's outcome in one transaction; per message the new status, or None when the
    claim was lost (the lease ran out and another sender took it, or the person was erased meanwhile)."""
    statuses = [_settle(session, message, outcome, settings, rng) for message, outcome in outcomes]
    session.commit()
    return statuses


def _settle(session: Session, message: Outgoing, outcome: Outcome, settings: NotifySettings,
            rng: random.Random | None) -> str | None:
    now = utcnow()
    values: dict[str, object] = {"claim": None, "updated_at": now}
    if isinstance(outcome, Sent):
        values.update(status=Status.SENT.value, provider_id=outcome.provider_id[:300], sent_at=now, last_error=None)
    elif isinstance(outcome, Failed):
        values.update(status=Status.FAILED.value, last_error=outcome.error)
    elif message.attempts >= settings.notify_max_attempts:
        values.update(status=Status.DEAD.value, last_error=f"{outcome.error} (attempt {message.attempts} of "
                                                           f"{settings.notify_max_attempts}: gave up)")
    else:
        wait = backoff(message.attempts, settings, rng)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        values.update(status=Status.QUEUED.value, next_attempt_at=now + timedelta(seconds=wait),
                      last_error=outcome.error)
    done = session.execute(update(Message).where(Message.id == message.id, Message.claim == message.claim)
                           .values(**values).execution_options(synchronize_session=False))
    if isinstance(outcome, Failed) and outcome.forget_address and message.channel is Channel.PUSH:
        forget_token(session, message.address, outcome.error)
    if not done.rowcount:  # type: ignore[attr-defined]
        log.warning("event=notify_claim_lost message=%s channel=%s", message.id, message.channel.value)
        return None
    return str(values["status"])


def backoff(attempts: int, settings: NotifySettings, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from the base, capped, with half of it jittered
    (so many messages failing together do not come back together)."""
    ceiling = min(settings.notify_backoff_max_seconds, settings.notify_backoff_seconds * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def forget_token(session: Session, token: str, error: str) -> None:
    """An unregistered push token: delete it and fail what is still queued for it."""
    session.execute(delete(PushToken).where(PushToken.token == token))
    session.execute(update(Message).where(and_(Message.channel == Channel.PUSH.value, Message.address == token,
                                               Message.status == Status.QUEUED.value))
                    .values(status=Status.FAILED.value, last_error=f"the push token is gone: {error}",
                            updated_at=utcnow()).execution_options(synchronize_session=False))
    log.info("event=push_token_forgotten token_end=%s", token[-6:])


def release(session: Session, messages: list[Outgoing]) -> None:
    """Give back claims a stopping sender did not finish (they go out again at once, from any sender)."""
    now = utcnow()
    for message in messages:
        session.execute(update(Message).where(Message.id == message.id, Message.claim == message.claim)
                        .values(status=Status.QUEUED.value, claim=None, next_attempt_at=now, updated_at=now)
                        .execution_options(synchronize_session=False))
    session.commit()


def resend_by(session: Session, actor: Actor, message_id: str) -> Message:
    """``resend``, by an admin, in the audit log (the API's and the pages' one way to do it)."""
    audit.record(session, actor, "notification.resend", "notification_message", message_id)
    return resend(session, message_id)


def resend(session: Session, message_id: str) -> Message:
    """Queue a dead or failed message again, at once, with fresh attempts. Email and WhatsApp go to the
    person's current address (they may have corrected it)."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no notification message with id {message_id}")
    if message.status not in (Status.DEAD.value, Status.FAILED.value):
        raise Conflict(f"message {message_id} is {message.status}; only dead or failed messages can be sent again")
    contact = session.get(Contact, message.person_id)
    current = {Channel.EMAIL.value: contact.email if contact else None,
               Channel.WHATSAPP.value: contact.whatsapp if contact else None}.get(message.channel)
    if current:
        message.address = current
    now = utcnow()
    message.status, message.attempts, message.next_attempt_at = Status.QUEUED.value, 0, now
    message.claim, message.updated_at = None, now
    session.commit()
    return message


def oldest_due(session: Session, channel: Channel) -> datetime | None:
    return session.scalar(select(Message.next_attempt_at).where(
        Message.channel == channel.value, Message.status == Status.QUEUED.value).order_by(Message.next_attempt_at)
        .limit(1))
