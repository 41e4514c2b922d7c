"""``notify()``: rows in the caller's transaction, one per recipient, channel and address, rendered in
each recipient's language; a rollback queues nothing, a retried call queues nothing twice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.roles import Role
from server.core.database import Database
from server.notifications import contacts
from server.notifications.kinds import Channel, Language, Topic
from server.notifications.outbox import Audience, notify, withdraw
from server.notifications.render import TemplateProblem, names
from server.notifications.tables import Message
from server.people import service as people
from server.people.schemas import PersonIn

CONTEXT = {"title": "Lab tutup Jumat — 29 Nov", "body": "Perawatan AC.\n\nTerima kasih.", "author": "Kepala Lab"}


def person(session: Session, number: str, *roles: Role, email: str | None = None, whatsapp: str | None = None,
           language: Language = Language.ID, tokens: tuple[str, ...] = (), active: bool = True) -> str:
    made = people.create(session, None, PersonIn(number=number, name=f"Person {number}",
                                                 roles=list(roles or (Role.STUDENT,)), active=active))
    contacts.set_contact(session, made.id, {"email": email, "whatsapp": whatsapp, "language": language})
    for token in tokens:
        contacts.register_token(session, made.id, token, "android")
    return made.id


def rows(session: Session) -> list[Message]:
    session.expire_all()
    return list(session.scalars(select(Message).order_by(Message.person_id, Message.channel, Message.address)))


Maker = Callable[..., str]


def test_a_rolled_back_change_queues_nothing_and_a_committed_one_queues_each_channel(database: Database) -> None:
    with database.session() as session:
        siti = person(session, "2201000001", email="siti@example.ac.id", whatsapp="0812 3456 7890",
                      tokens=("phone-a", "phone-b"))
        notify(session, topic=Topic.ANNOUNCEMENTS, template="announcement", context=CONTEXT, dedupe_key="a:1",
               people=[siti])
        session.rollback()
        assert rows(session) == []
        queued = notify(session, topic=Topic.ANNOUNCEMENTS, template="announcement", context=CONTEXT,
                        dedupe_key="a:1", people=[siti])
        session.commit()
    assert queued.people == 1 and queued.messages == 4
    with database.session() as session:
        found = [(m.channel, m.address, m.status) for m in rows(session)]
    assert found == [("email", "siti@example.ac.id", "queued"), ("push", "phone-a", "queued"),
                     ("push", "phone-b", "queued"), ("whatsapp", "+6281234567890", "queued")]


def test_a_retried_notify_with_the_same_dedupe_key_queues_nothing_twice(database: Database) -> None:
    with database.session() as session:
        siti = person(session, "2201000001", email="siti@example.ac.id")
        for _ in range(3):
            notify(session, topic="announcements", template="announcement", context=CONTEXT, dedupe_key="a:1",
                   people=[siti])
            session.commit()
        assert len(rows(session)) == 1
        budi = person(session, "2201000002", email="budi@example.ac.id")
        notify(session, topic="announcements", template="announcement", context=CONTEXT, dedupe_key="a:1",
               people=[siti, budi])  # a new recipient under the same key is added, the old one is not repeated
        session.commit()
        assert sorted(m.address for m in rows(session)) == ["budi@example.ac.id", "siti@example.ac.id"]


def test_each_recipient_reads_the_message_in_their_own_language(database: Database) -> None:
    with database.session() as session:
        siti = person(session, "2201000001", email="siti@example.ac.id", language=Language.ID)
        jane = person(session, "2201000002", email="jane@example.ac.id", language=Language.EN)
        notify(session, topic="announcements", template="announcement", context=CONTEXT, dedupe_key="a:1",
               people=[siti, jane])
        session.commit()
        by_address = {m.address: m for m in rows(session)}
    assert by_address["siti@example.ac.id"].subject == "Pengumuman: Lab tutup Jumat — 29 Nov"
    assert "Halo Person 2201000001" in by_address["siti@example.ac.id"].body_text
    assert by_address["jane@example.ac.id"].subject == "Announcement: Lab tutup Jumat — 29 Nov"
    assert "Hello Person 2201000002" in by_address["jane@example.ac.id"].body_text
    assert '<html lang="en">' in by_address["jane@example.ac.id"].body_html


def test_an_audience_of_roles_reaches_active_holders_only_and_preferences_turn_channels_off(
        database: Database) -> None:
    with database.session() as session:
        student = person(session, "2201000001", Role.STUDENT, email="s@example.ac.id", tokens=("t1",))
        assistant = person(session, "2201000002", Role.STUDENT, Role.ASSISTANT, email="a@example.ac.id")
        person(session, "2201000003", Role.STUDENT, email="gone@example.ac.id", active=False)
        person(session, "1970000009", Role.LECTURER, email="l@example.ac.id")
        nobody = person(session, "2201000004", Role.ASSISTANT)
        contacts.set_preferences(session, student, {Topic.BOOKINGS: [Channel.PUSH]})
        queued = notify(session, topic="bookings", template="announcement", context=CONTEXT, dedupe_key="b:1",
                        audience=Audience.with_roles(Role.STUDENT, Role.ASSISTANT))
        session.commit()
        found = sorted((m.person_id, m.channel) for m in rows(session))
    assert found == sorted([(student, "push"), (assistant, "email")])
    assert queued.unreachable == [nobody] and queued.people == 3


def test_withdraw_drops_the_waiting_messages_of_a_key_and_leaves_others(database: Database) -> None:
    with database.session() as session:
        siti = person(session, "2201000001", email="siti@example.ac.id")
        for key in ("reminder:1", "reminder:2"):
            notify(session, topic="bookings", template="announcement", context=CONTEXT, dedupe_key=key, people=[siti])
        session.commit()
        assert withdraw(session, "reminder:1") == 1
        session.commit()
        assert [m.notification_key for m in rows(session)] == ["reminder:2"]


def test_an_unknown_template_or_a_missing_variable_fails_in_the_callers_code(database: Database) -> None:
    with database.session() as session:
        siti = person(session, "2201000001", email="siti@example.ac.id")
        with pytest.raises(TemplateProblem, match="no notification template 'nope'"):
            notify(session, topic="bookings", template="nope", context={}, dedupe_key="x", people=[siti])
        with pytest.raises(TemplateProblem, match="'title' is undefined"):
            notify(session, topic="bookings", template="announcement", context={"body": "b", "author": "a"},
                   dedupe_key="x", people=[siti])
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_every_template_exists_in_every_language() -> None:
    found = names()
    assert found[Language.ID] == found[Language.EN] and "announcement" in found[Language.ID]
