"""``notify()``: the one call other domains make to tell people something.

It writes outbox rows in the caller's session and transaction, one per recipient, channel and
address, each text rendered in the recipient's language. Nothing is sent here: the sender
(``sender.py``) sends rows once they are committed, so a change that rolls back sends nothing and a
committed one is sent even if the server dies right after. The dedupe key makes a retried call a
no-op: a row whose key exists is skipped (``ON CONFLICT DO NOTHING``).

    from server.notifications.outbox import Audience, notify
    from server.notifications.kinds import Topic

    notify(session, topic=Topic.BOOKINGS, template="booking_approved",
           context={"room": "LAB-1", "start": "Mon 08:00"}, dedupe_key=f"booking:{booking.id}:approved",
           people=[booking.person_id])
    session.commit()   # the caller's commit queues the messages
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.core.clock import utcnow
from server.core.ids import new_id
from server.notifications import contacts
from server.notifications.kinds import Language, Status, Topic
from server.notifications.render import Rendered, render
from server.notifications.tables import Attachment, Message
from server.people.tables import Person, PersonRole

KEY_MAX = 200


@dataclass(frozen=True)
class Audience:
    """Recipients beyond the people named: every active person (``roles=None``), or the active people
    holding any of ``roles``."""

    roles: frozenset[str] | None = None

    @classmethod
    def everyone(cls) -> Audience:
        return cls(None)

    @classmethod
    def with_roles(cls, *roles: str) -> Audience:
        if not roles:
            raise ValueError("Audience.with_roles needs at least one role (or use Audience.everyone())")
        return cls(frozenset(str(r) for r in roles))

    def members(self, session: Session) -> list[str]:
        query = select(Person.id).where(Person.active.is_(True)).order_by(Person.number)
        if self.roles is not None:
            query = query.where(Person.roles.any(PersonRole.role.in_(sorted(self.roles))))
        return list(session.scalars(query))


@dataclass(frozen=True)
class Queued:
    """What ``notify`` did: recipients found, rows written or found already queued, and the people
    who could not be reached on this topic (no address for any channel they want) or do not exist."""

    people: int
    messages: int
    unreachable: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def notify(session: Session, *, topic: Topic | str, template: str, context: Mapping[str, Any], dedupe_key: str,
           people: Iterable[str] = (), audience: Audience | None = None, data: Mapping[str, str] | None = None,
           not_before: datetime | None = None, attachments: Sequence[tuple[str, str, bytes]] = ()) -> Queued:
    """Queue ``template`` for ``people`` and ``audience`` on ``topic``, in the caller's transaction.

    ``context`` fills the template (plus ``recipient`` = {name, number} and ``language``, per person);
    ``data`` goes to the phone app with a push; ``not_before`` delays sending (a reminder);
    ``attachments`` ((filename, media type, content)) go with the email messages only. Raises
    ``TemplateProblem`` (a ``ValueError``) for an unknown template or a variable ``context`` lacks.
    """
    if not dedupe_key or len(dedupe_key) > KEY_MAX:
        raise ValueError(f"dedupe_key must be 1..{KEY_MAX} characters, got {len(dedupe_key)}")
    topic = Topic(topic)
    recipients = list(dict.fromkeys([*people, *(audience.members(session) if audience else [])]))
    session.flush()  # people the caller just added in this transaction are visible to the look-up
    reaches = contacts.reach(session, recipients, topic)
    now = utcnow()
    due = max(not_before, now) if not_before else now
    rows: list[dict[str, Any]] = []
    unreachable: list[str] = []
    for person_id in recipients:
        reach = reaches.get(person_id)
        if reach is None:
            continue
        if not reach.addresses:
            unreachable.append(person_id)
            continue
        text = _render(template, reach, context)
        for channel, address in reach.addresses:
            rows.append({
                "id": new_id(), "key": _row_key(dedupe_key, person_id, channel.value, address),
                "notification_key": dedupe_key, "person_id": person_id, "topic": topic.value, "template": template,
                "channel": channel.value, "language": reach.language.value, "address": address,
                "subject": text.subject, "body_text": text.text, "body_html": text.html, "short": text.short,
                "data": dict(data or {}), "status": Status.QUEUED.value, "attempts": 0, "next_attempt_at": due,
                "claim": None, "last_error": None, "provider_id": None, "delivery": None, "created_at": now,
                "updated_at": now, "sent_at": None, "delivered_at": None, "read_at": None,
            })
    _insert_new(session, rows)
    if rows and attachments:
        _attach(session, dedupe_key, attachments, now)
    missing = [p for p in recipients if p not in reaches]
    return Queued(people=len(reaches), messages=len(rows), unreachable=unreachable, missing=missing)


def withdraw(session: Session, dedupe_key: str) -> int:
    """Drop the messages of ``notify(..., dedupe_key=...)`` that are still waiting (a cancelled
    booking's reminder), in the caller's transaction; returns how many. Sent ones stay sent."""
    done = session.execute(delete(Message).where(and_(Message.notification_key == dedupe_key,
                                                      Message.status == Status.QUEUED.value)))
    return int(done.rowcount)  # type: ignore[attr-defined]


def _attach(session: Session, dedupe_key: str, attachments: Sequence[tuple[str, str, bytes]], now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert(Attachment) if dialect == "postgresql" else sqlite.insert(Attachment)
                 ).on_conflict_do_nothing(index_elements=["notification_key", "filename"])
    session.execute(statement, [{"notification_key": dedupe_key, "filename": name, "media_type": kind, "content": data,
                                 "created_at": now} for name, kind, data in attachments])


def _render(template: str, reach: contacts.Reach, context: Mapping[str, Any]) -> Rendered:
    values = {**context, "recipient": {"name": reach.name, "number": reach.number}}
    return render(template, Language(reach.language), values)


def _row_key(dedupe_key: str, person_id: str, channel: str, address: str) -> str:
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    return f"{dedupe_key}|{person_id}|{channel}|{digest}"


def _insert_new(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows whose key is new; a row whose key exists (a retried notify) is left as it is."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert(Message) if dialect == "postgresql" else sqlite.insert(Message)
                 ).on_conflict_do_nothing(index_elements=["key"])
    for start in range(0, len(rows), 1000):
        session.execute(statement, list(rows[start:start + 1000]))

