"""Contacts, push tokens and channel preferences: the rules for storing them, and ``reach``, which
tells ``notify`` how each recipient can be reached on a topic.

Numbers are stored in E.164 (``phonenumbers``, Indonesia when no country code is given); an email
address is checked for shape only (the relay says the rest). A push token belongs to one person at a
time: a phone that signs in as someone else registers it again and it moves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.core.clock import utcnow
from server.core.errors import Invalid, NotFound
from server.core.ids import new_id
from server.notifications.kinds import Channel, Language, Status, Topic
from server.notifications.tables import Contact, Message, Preference, PushToken
from server.people.tables import Person

DEFAULT_LANGUAGE = Language.ID
DEFAULT_REGION = "ID"
REMINDER_CHOICES = (0, 10, 30, 60, 1440)  # minutes before a booking starts; 0: no reminders
DEFAULT_REMINDER = 30
REMINDER_START = "reminder_for"  # a reminder message's data: the ISO start it reminds of (moved on a new choice)
PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().\-]{3,30}$")
EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\\\]]{1,64}@(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                   r"[A-Za-z]{2,63}$")


def whatsapp_number(value: str, region: str = DEFAULT_REGION) -> str:
    """``value`` in E.164 (``+6281234567890``), or ``Invalid`` naming it."""
    problem = f"the WhatsApp number {value!r} is not a valid phone number; write it with its country code " \
              f"(+62 812-3456-7890) or as an Indonesian number (0812-3456-7890)"
    if not PHONE_CHARACTERS.match(value):  # phonenumbers would read letters as a keypad's (vanity numbers)
        raise Invalid(problem, [(["body", "whatsapp"], f"{value!r} has characters a phone number does not")])
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(problem, [(["body", "whatsapp"], f"{value!r}: {exc}")]) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise Invalid(problem, [(["body", "whatsapp"], f"{value!r} is not a valid number")])
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_address(value: str) -> str:
    """``value`` trimmed with its domain in lower case, or ``Invalid`` naming it."""
    value = value.strip()
    if not EMAIL.match(value):
        raise Invalid(f"the email address {value!r} is not valid; write it as name@example.ac.id",
                      [(["body", "email"], f"{value!r} is not an email address")])
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def contact(session: Session, person_id: str) -> Contact:
    """The person's contact row (a blank one, not stored, when they have none)."""
    _person(session, person_id)
    found = session.get(Contact, person_id)
    return found or _blank(person_id)


def _blank(person_id: str) -> Contact:
    return Contact(person_id=person_id, email=None, whatsapp=None, language=DEFAULT_LANGUAGE.value,
                   whatsapp_inbound_at=None, reminder_minutes=DEFAULT_REMINDER, updated_at=utcnow())


def set_contact(session: Session, person_id: str, changes: Mapping[str, Any]) -> Contact:
    """Change the fields given in ``changes`` (``email``, ``whatsapp``, ``language``; ``None`` clears an
    address); messages already queued keep the address they had."""
    _person(session, person_id)
    row = session.get(Contact, person_id)
    if row is None:
        row = _blank(person_id)
        session.add(row)
    if "email" in changes:
        row.email = email_address(changes["email"]) if changes["email"] else None
    if "whatsapp" in changes:
        number = whatsapp_number(changes["whatsapp"]) if changes["whatsapp"] else None
        if number != row.whatsapp:
            row.whatsapp_inbound_at = None  # a new number has not written to us yet
        row.whatsapp = number
    if changes.get("language"):
        row.language = Language(changes["language"]).value
    row.updated_at = utcnow()
    session.commit()
    return row


def tokens(session: Session, person_id: str) -> Sequence[PushToken]:
    return session.scalars(select(PushToken).where(PushToken.person_id == person_id)
                           .order_by(PushToken.created_at, PushToken.id)).all()


def register_token(session: Session, person_id: str, token: str, platform: str) -> tuple[PushToken, bool]:
    """(the token's row, whether it is new). A token another person held moves to this person."""
    _person(session, person_id)
    now = utcnow()
    row = session.scalar(select(PushToken).where(PushToken.token == token))
    created = row is None
    if row is None:
        row = PushToken(id=new_id(), person_id=person_id, token=token, platform=platform, created_at=now, seen_at=now)
        session.add(row)
    else:
        if row.person_id != person_id:
            _drop_queued_push(session, token)  # the last holder's messages must not reach the new one
        row.person_id, row.platform, row.seen_at = person_id, platform, now
    session.commit()
    return row, created


def unregister_token(session: Session, person_id: str, token: str) -> None:
    row = session.scalar(select(PushToken).where(PushToken.token == token, PushToken.person_id == person_id))
    if row is None:
        raise NotFound("you have no such push token registered (it may have been unregistered already)")
    session.delete(row)
    _drop_queued_push(session, token)
    session.commit()


def _drop_queued_push(session: Session, token: str) -> None:
    session.execute(delete(Message).where(Message.channel == Channel.PUSH.value, Message.address == token,
                                          Message.status == Status.QUEUED.value))


def preferences(session: Session, person_id: str) -> dict[Topic, dict[Channel, bool]]:
    """Every topic and channel: on or off (on unless the person turned it off)."""
    _person(session, person_id)
    chosen = {(p.topic, p.channel): p.enabled for p in
              session.scalars(select(Preference).where(Preference.person_id == person_id))}
    return {topic: {channel: chosen.get((topic.value, channel.value), True) for channel in Channel}
            for topic in Topic}


def set_preferences(session: Session, person_id: str, wanted: Mapping[Topic, Iterable[Channel]],
                    reminder: int | None = None) -> None:
    """For each topic given, exactly these channels (the others off); ``reminder``: the minutes before a
    booking's start its reminder comes (0: none), which also moves (or drops) the reminders waiting."""
    _person(session, person_id)
    if reminder is not None:
        set_reminder(session, person_id, reminder)
    for topic, channels in wanted.items():
        on = set(channels)
        session.execute(delete(Preference).where(Preference.person_id == person_id, Preference.topic == topic.value))
        session.add_all(Preference(person_id=person_id, topic=topic.value, channel=c.value, enabled=c in on)
                        for c in Channel)
    session.commit()


def reminder_minutes(session: Session, person_ids: Sequence[str]) -> dict[str, int]:
    """Each person's reminder lead time in minutes (0: no reminders; the default unless they chose)."""
    chosen: dict[str, int] = {}
    for start in range(0, len(person_ids), 500):
        chunk = list(person_ids[start:start + 500])
        chosen.update((p, m) for p, m in session.execute(select(Contact.person_id, Contact.reminder_minutes)
                                                         .where(Contact.person_id.in_(chunk))))
    return {p: chosen.get(p, DEFAULT_REMINDER) for p in person_ids}


def set_reminder(session: Session, person_id: str, minutes: int) -> None:
    """Choose the reminder lead time; the person's waiting reminders move to it (or go, for 0; one whose
    new time has passed goes out now). Reminders of bookings confirmed while it was 0 are not made."""
    if minutes not in REMINDER_CHOICES:
        raise Invalid(f"a reminder comes {', '.join(map(str, REMINDER_CHOICES))} minutes before; not {minutes}",
                      [(["body", "booking_reminder_minutes"], f"{minutes} is not one of {list(REMINDER_CHOICES)}")])
    row = session.get(Contact, person_id)
    if row is None:
        row = _blank(person_id)
        session.add(row)
    row.reminder_minutes, row.updated_at = minutes, utcnow()
    now = utcnow()
    for message in session.scalars(select(Message).where(Message.person_id == person_id,
                                                         Message.status == Status.QUEUED.value)):
        start = (message.data or {}).get(REMINDER_START)
        if not start:
            continue
        if minutes == 0:
            session.delete(message)
        else:
            message.next_attempt_at = max(datetime.fromisoformat(start) - timedelta(minutes=minutes), now)
            message.updated_at = now


@dataclass
class Reach:
    """How one recipient is reached on one topic: their language and an address per wanted channel."""

    person_id: str
    name: str
    number: str
    language: Language
    addresses: list[tuple[Channel, str]] = field(default_factory=list)


def reach(session: Session, person_ids: Sequence[str], topic: Topic) -> dict[str, Reach]:
    """Recipients that exist, with the addresses of the channels they want for ``topic``."""
    found: dict[str, Reach] = {}
    for start in range(0, len(person_ids), 500):
        chunk = list(person_ids[start:start + 500])
        rows = session.execute(select(Person.id, Person.name, Person.number, Contact)
                               .outerjoin(Contact, Contact.person_id == Person.id).where(Person.id.in_(chunk)))
        off = {(p, c) for p, c in session.execute(
            select(Preference.person_id, Preference.channel).where(
                Preference.person_id.in_(chunk), Preference.topic == topic.value, Preference.enabled.is_(False)))}
        phones: dict[str, list[str]] = {}
        for person_id, token in session.execute(select(PushToken.person_id, PushToken.token)
                                                .where(PushToken.person_id.in_(chunk)).order_by(PushToken.created_at)):
            phones.setdefault(person_id, []).append(token)
        for person_id, name, number, row in rows:
            language = Language(row.language) if row else DEFAULT_LANGUAGE
            entry = Reach(person_id, name, number, language)
            if row and row.email and (person_id, Channel.EMAIL.value) not in off:
                entry.addresses.append((Channel.EMAIL, row.email))
            if (person_id, Channel.PUSH.value) not in off:
                entry.addresses.extend((Channel.PUSH, token) for token in phones.get(person_id, []))
            if row and row.whatsapp and (person_id, Channel.WHATSAPP.value) not in off:
                entry.addresses.append((Channel.WHATSAPP, row.whatsapp))
            found[person_id] = entry
    return found


def _person(session: Session, person_id: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person with id {person_id}")
    return person
