"""What erasing a person removes here: their contacts, push tokens and preferences, every outbox
message to them (queued ones are dropped unsent; sent ones held their address and text), and their
place among announcement recipients. Runs in the erasure's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.notifications.kinds import Status
from server.notifications.tables import AnnouncementRecipient, Contact, Message, Preference, PushToken


@dataclass(frozen=True)
class Forgotten:
    queued_dropped: int  # messages that were still waiting to be sent
    messages_deleted: int
    push_tokens: int


def forget(session: Session, person_id: str) -> Forgotten:
    waiting = session.scalar(select(func.count()).select_from(Message).where(
        Message.person_id == person_id, Message.status.in_([Status.QUEUED.value, Status.SENDING.value]))) or 0
    messages = session.execute(delete(Message).where(Message.person_id == person_id))
    tokens = session.execute(delete(PushToken).where(PushToken.person_id == person_id))
    for table in (Contact, Preference, AnnouncementRecipient):
        session.execute(delete(table).where(table.person_id == person_id))
    return Forgotten(queued_dropped=int(waiting), messages_deleted=int(messages.rowcount),  # type: ignore[attr-defined]
                     push_tokens=int(tokens.rowcount))  # type: ignore[attr-defined]
