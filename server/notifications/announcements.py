"""Announcements: the head or an admin tells everyone, some roles, or some people. The people it is
for are fixed when it is posted (so each can read it later at GET /announcements) and each gets it
through the channels they chose for the topic ``announcements``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.errors import Invalid, NotFound
from server.core.ids import new_id
from server.notifications.kinds import Topic
from server.notifications.outbox import Audience, Queued, notify
from server.notifications.schemas import AnnouncementIn
from server.notifications.tables import Announcement, AnnouncementRecipient
from server.people.tables import Person

READ_ALL = {Role.ADMIN.value, Role.HEAD.value}


def post(session: Session, actor: Actor, data: AnnouncementIn,
         idempotency_key: str | None = None) -> tuple[Announcement, bool, Queued | None]:
    """(the announcement, whether it is new, what was queued). A repeated ``idempotency_key`` from the
    same author returns the first announcement and queues nothing more."""
    key = f"{actor.person_id}:{idempotency_key}" if idempotency_key else None
    if key and (earlier := _by_key(session, key)):
        return earlier, False, None
    audience = data.audience
    named = list(dict.fromkeys(audience.people))
    if named:
        known = set(session.scalars(select(Person.id).where(Person.id.in_(named))))
        unknown = [p for p in named if p not in known]
        if unknown:
            raise Invalid(f"no person with id {', '.join(unknown[:5])}{' (and more)' if len(unknown) > 5 else ''}; "
                          f"nothing was announced", [(["body", "audience", "people"], f"unknown id {p}")
                                                     for p in unknown[:100]])
    group = (Audience.everyone() if audience.everyone else
             Audience.with_roles(*audience.roles) if audience.roles else None)
    recipients = list(dict.fromkeys([*(group.members(session) if group else []), *named]))
    shown_audience = ({"everyone": True} if audience.everyone else
                      {k: v for k, v in {"roles": [r.value for r in audience.roles], "people": named}.items() if v})
    announcement = Announcement(id=new_id(), title=data.title.strip(), body=data.body.strip(),
                                audience=shown_audience, author_id=actor.person_id, author_name=actor.name,
                                idempotency_key=key, recipients=len(recipients), created_at=utcnow())
    session.add(announcement)
    session.flush()
    for start in range(0, len(recipients), 1000):
        session.execute(insert(AnnouncementRecipient), [{"announcement_id": announcement.id, "person_id": p}
                                                        for p in recipients[start:start + 1000]])
    queued = notify(session, topic=Topic.ANNOUNCEMENTS, template="announcement",
                    context={"title": announcement.title, "body": announcement.body, "author": actor.name},
                    dedupe_key=f"announcement:{announcement.id}", people=recipients,
                    data={"announcement": announcement.id})
    audit.record(session, actor, "announcement.post", "announcement", announcement.id, audience=shown_audience,
                 recipients=len(recipients), messages=queued.messages)
    try:
        session.commit()
    except IntegrityError:  # the same key posted at the same moment by another request: that one stands
        session.rollback()
        if key and (earlier := _by_key(session, key)):
            return earlier, False, None
        raise
    return announcement, True, queued


def visible(session: Session, actor: Actor, everything: bool, offset: int,
            limit: int) -> tuple[Sequence[Announcement], int]:
    """The announcements for the actor (newest first); every announcement for admin and head with ``everything``."""
    query = select(Announcement)
    if not (everything and actor.role in READ_ALL):
        query = query.where(Announcement.id.in_(select(AnnouncementRecipient.announcement_id).where(
            AnnouncementRecipient.person_id == actor.person_id)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Announcement.created_at.desc(), Announcement.id).offset(offset).limit(limit))
    return rows.all(), total


def get(session: Session, actor: Actor, announcement_id: str) -> Announcement:
    """One announcement, for the people it was for, its author, admins and the head."""
    found = session.get(Announcement, announcement_id)
    allowed = found is not None and (
        actor.role in READ_ALL or found.author_id == actor.person_id or
        session.get(AnnouncementRecipient, (announcement_id, actor.person_id)) is not None)
    if found is None or not allowed:
        raise NotFound(f"no announcement with id {announcement_id} for you")
    return found


def _by_key(session: Session, key: str) -> Announcement | None:
    return session.scalar(select(Announcement).where(Announcement.idempotency_key == key))
