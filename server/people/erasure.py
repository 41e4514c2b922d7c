"""Erasure: a person's data goes, a tombstone stays so every kiosk erases them too.

The person row and everything hanging on it (roles, password, sessions, consents, templates, photos,
corrections) is deleted; their kiosk events stay for the counts but lose the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import limits
from server.auth.actor import Actor
from server.auth.roles import Role
from server.core.clock import utcnow
from server.core.errors import Invalid
from server.faces.removal import remove_templates
from server.feed import journal
from server.notifications.erasure import forget as forget_notifications
from server.people.service import get, keep_an_admin, lock_admins, only_an_admin_changes_an_admin
from server.people.tables import Tombstone
from server.presence.tables import Event


@dataclass(frozen=True)
class Erasure:
    number: str
    erased_at: datetime
    events_anonymised: int
    templates_deleted: int


def erase(session: Session, actor: Actor, person_id: str) -> Erasure:
    person = get(session, person_id)
    if person.id == actor.person_id:
        raise Invalid("you cannot erase your own account; ask another admin")
    only_an_admin_changes_an_admin(actor, person)
    admin = Role.ADMIN.value in person.role_names
    if admin:
        lock_admins(session)
    number, now = person.number, utcnow()
    templates = remove_templates(session, person.id, tell_kiosks=False)  # the tombstone tells them
    anonymised = session.execute(update(Event).where(Event.person_number == number).values(person_number=None))
    limits.forget(session, number)
    notifications = forget_notifications(session, person.id)  # contacts, tokens, queued messages
    tombstone = Tombstone(number=number, erased_at=now, erased_by=actor.person_id)
    session.add(tombstone)
    session.delete(person)
    session.flush()
    journal.note(session, "tombstone", str(tombstone.id))
    if admin:
        keep_an_admin(session)
    count = int(anonymised.rowcount)  # type: ignore[attr-defined]
    audit.record(session, actor, "person.erase", "person", person_id, number=number, events_anonymised=count,
                 templates_deleted=templates, notifications_dropped=notifications.queued_dropped)
    session.commit()
    return Erasure(number, now, count, templates)
