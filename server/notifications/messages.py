"""The outbox as admins see it: messages by status, channel and person (the dead letters first of all)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.core.errors import NotFound
from server.notifications.kinds import Channel, Status
from server.notifications.tables import Message


def page(session: Session, status: Status | None, channel: Channel | None, person_id: str | None, offset: int,
         limit: int) -> tuple[Sequence[Message], int]:
    query = select(Message)
    if status:
        query = query.where(Message.status == status.value)
    if channel:
        query = query.where(Message.channel == channel.value)
    if person_id:
        query = query.where(Message.person_id == person_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Message.updated_at.desc(), Message.id).offset(offset).limit(limit))
    return rows.all(), total


def get(session: Session, message_id: str) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no notification message with id {message_id}")
    return message
